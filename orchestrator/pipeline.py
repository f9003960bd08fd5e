"""The pipeline: one preprocess job, one inference job, one postprocess job, for many texts.

The texts may belong to several requests (see coalescing.py): each request's outcome is its
own. A text a worker refuses fails its own request only; a stage that fails as a whole
fails every request in it. Every stage output is validated against its contract before the
next stage sees it, so a worker that answers something else fails here with the stage's
name, not three stages on.
"""

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts import (
    ClassificationResult,
    InferenceOutput,
    Limits,
    ModelInfo,
    PostprocessOutput,
    PreprocessBatchOutput,
    PreprocessOutput,
    Stage,
    StageTiming,
    WindowPrediction,
    WorkerError,
)
from contracts.tracing import with_request_ids
from orchestrator.metrics import Metrics
from orchestrator.runpod_client import (
    StageEndpoint,
    StageError,
    StageFailedError,
    StageRejectedInputError,
    typed_stage_error,
)


@functools.cache
def _adapter(model: Any) -> TypeAdapter:
    return TypeAdapter(model)


def parse_output(stage: Stage, model: Any, output: Any) -> Any:
    """`output` as `model` (a pydantic model or a union of them), or the stage's failure."""
    try:
        return _adapter(model).validate_python(output)
    except ValidationError:
        raise StageFailedError(stage, "the worker's output does not match the contract") from None


def combined_timing(timings: list[StageTiming], wall_ms: float, shared_by: int) -> StageTiming:
    """Jobs of one stage that ran side by side: the wall time, and the slowest job's parts."""
    queue = [t.queue_ms for t in timings if t.queue_ms is not None]
    execution = [t.execution_ms for t in timings if t.execution_ms is not None]
    return StageTiming(
        round_trip_ms=round(wall_ms, 3),
        queue_ms=max(queue) if queue else None,
        execution_ms=max(execution) if execution else None,
        jobs=len(timings),
        shared_by=shared_by,
    )


def copied_error(exc: StageError) -> StageError:
    """One exception object per request: each answer fills in its own timings."""
    # Not copy.copy: an exception is rebuilt from its args, which are not its __init__'s.
    twin = exc.__class__.__new__(exc.__class__)
    twin.args = exc.args
    twin.__dict__.update(exc.__dict__)
    twin.timings = dict(exc.timings)
    return twin


@dataclass
class RequestOutcome:
    """One request's share of a pipeline run: what each stage made of its texts, its
    results, or what failed it."""

    texts: list[str]
    request_id: str = ""
    preprocessed: list[PreprocessOutput] = field(default_factory=list)
    windows: list[list[WindowPrediction]] = field(default_factory=list)
    model_info: ModelInfo | None = None
    results: list[ClassificationResult] = field(default_factory=list)
    error: StageError | None = None


class Pipeline:
    def __init__(self, endpoints: dict[Stage, StageEndpoint], metrics: Metrics | None = None):
        self.endpoints = endpoints
        self.metrics = metrics or Metrics()

    async def run_stage(
        self, stage: Stage, job_input: dict[str, Any], request_ids: list[str] | None = None
    ) -> tuple[Any, StageTiming]:
        """One job on the stage's endpoint, carrying the ids of the requests it serves."""
        try:
            output, timing = await self.endpoints[stage].run(
                with_request_ids(job_input, request_ids or [])
            )
        except StageError as exc:
            self.metrics.stage_error(stage, exc.error_type)
            raise
        self.metrics.job(stage, timing)
        return output, timing

    async def classify_many(
        self, requests: list[list[str]], request_ids: list[str] | None = None
    ) -> tuple[list[RequestOutcome], dict[str, StageTiming]]:
        """Classify each request's texts with one job per stage for all of them.

        Raises StageError when a stage fails as a whole (every request fails with it); a
        request whose own text a worker refused gets that error in its outcome instead.
        """
        ids = request_ids or [""] * len(requests)
        outcomes = [RequestOutcome(texts, rid) for texts, rid in zip(requests, ids, strict=True)]
        self.metrics.requests_per_run.observe(len(outcomes))
        done: dict[str, StageTiming] = {}
        try:
            await self._run(outcomes, done)
        except StageError as exc:
            # The error answer shows how far the request got, and how long each part took.
            exc.timings = {**done, **exc.timings}
            raise
        return outcomes, done

    async def _run(self, outcomes: list[RequestOutcome], done: dict[str, StageTiming]) -> None:
        shared_by = len(outcomes)
        await self._preprocess(outcomes, done, shared_by)
        # Each later stage is shared by the requests still alive.
        live = [o for o in outcomes if o.error is None]
        if live:
            await self._infer(live, done, len(live))
        live = [o for o in live if o.error is None]
        if live:
            await self._postprocess(live, done, len(live))

    async def _preprocess(
        self, outcomes: list[RequestOutcome], done: dict[str, StageTiming], shared_by: int
    ) -> None:
        texts = [{"text": text} for o in outcomes for text in o.texts]
        raw, timing = await self.run_stage(Stage.PREPROCESS, {"items": texts}, _ids(outcomes))
        done["preprocess"] = timing.model_copy(update={"shared_by": shared_by})
        output = parse_output(Stage.PREPROCESS, PreprocessBatchOutput, raw)
        if len(output.results) != len(texts):
            raise StageFailedError(
                Stage.PREPROCESS, "the worker returned a wrong number of results"
            )
        results = iter(output.results)
        for outcome in outcomes:
            mine = [next(results) for _ in outcome.texts]
            failed = next((r for r in mine if isinstance(r, WorkerError)), None)
            if failed is not None:
                outcome.error = typed_stage_error(Stage.PREPROCESS, failed)
            else:
                outcome.preprocessed = mine  # type: ignore[assignment]

    async def _infer(
        self, live: list[RequestOutcome], done: dict[str, StageTiming], shared_by: int
    ) -> None:
        timings: list[StageTiming] = []

        async def run_chunk(chunk: list[RequestOutcome]) -> None:
            items = [
                {"windows": p.windows, "tokenizer_fingerprint": p.tokenizer.fingerprint}
                for o in chunk
                for p in o.preprocessed
            ]
            self.metrics.windows_per_job.observe(sum(len(i["windows"]) for i in items))
            shares = await self._shared_job(
                Stage.INFERENCE, chunk, {"items": items}, timings, InferenceOutput
            )
            for outcome, output in shares:
                if output is not None:
                    outcome.windows = [r.windows for r in output.results]
                    outcome.model_info = output.model_info

        started = time.perf_counter()
        # A TaskGroup, not gather: when one job fails, its siblings are cancelled, and with
        # them their Runpod jobs (StageEndpoint.run), since nobody will read their answers.
        try:
            async with asyncio.TaskGroup() as group:
                for chunk in _chunks_by_windows(live):
                    group.create_task(run_chunk(chunk))
        except* StageError as failures:
            raise failures.exceptions[0] from None
        wall_ms = (time.perf_counter() - started) * 1000
        done["inference"] = combined_timing(timings, wall_ms, shared_by)

    async def _postprocess(
        self, live: list[RequestOutcome], done: dict[str, StageTiming], shared_by: int
    ) -> None:
        items = [
            {
                "windows": text_windows,
                "stats": {
                    "word_count": p.word_count,
                    "sentence_count": p.sentence_count,
                    "char_count": p.char_count,
                },
            }
            for o in live
            for p, text_windows in zip(o.preprocessed, o.windows, strict=True)
        ]
        timings: list[StageTiming] = []
        started = time.perf_counter()
        shares = await self._shared_job(
            Stage.POSTPROCESS,
            live,
            {"items": items, "model_info": live[0].model_info},
            timings,
            PostprocessOutput,
        )
        wall_ms = (time.perf_counter() - started) * 1000
        done["postprocess"] = combined_timing(timings, wall_ms, shared_by)
        for outcome, output in shares:
            if output is not None:
                outcome.results = output.results

    async def _shared_job(
        self,
        stage: Stage,
        members: list[RequestOutcome],
        job_input: dict[str, Any],
        timings: list[StageTiming],
        model: type[InferenceOutput] | type[PostprocessOutput],
    ) -> list[tuple[RequestOutcome, Any]]:
        """One job for several requests' items; each request gets its slice of the output.

        When the worker refuses the input and several requests share the job, each runs
        alone once more, so the one whose text is at fault fails and the others do not.
        """
        counts = [len(o.texts) for o in members]
        try:
            raw, timing = await self.run_stage(stage, _jsonable(job_input), _ids(members))
        except StageRejectedInputError:
            if len(members) == 1:
                raise
            return await self._one_by_one(stage, members, job_input, timings, model)
        timings.append(timing)
        output = parse_output(stage, model, raw)
        if len(output.results) != sum(counts):
            raise StageFailedError(stage, "the worker returned a wrong number of results")
        sliced = []
        start = 0
        for outcome, count in zip(members, counts, strict=True):
            part = output.model_copy(update={"results": output.results[start : start + count]})
            sliced.append((outcome, part))
            start += count
        return sliced

    async def _one_by_one(
        self,
        stage: Stage,
        members: list[RequestOutcome],
        job_input: dict[str, Any],
        timings: list[StageTiming],
        model: type[InferenceOutput] | type[PostprocessOutput],
    ) -> list[tuple[RequestOutcome, Any]]:
        items = iter(job_input["items"])
        shares = [[next(items) for _ in o.texts] for o in members]

        async def alone(outcome: RequestOutcome, share: list[Any]) -> tuple[RequestOutcome, Any]:
            try:
                result = await self._shared_job(
                    stage, [outcome], {**job_input, "items": share}, timings, model
                )
            except StageRejectedInputError as exc:
                outcome.error = exc
                return outcome, None
            return result[0]

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(alone(o, share))
                    for o, share in zip(members, shares, strict=True)
                ]
        except* StageError as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]


def _ids(outcomes: list[RequestOutcome]) -> list[str]:
    return [o.request_id for o in outcomes if o.request_id]


def _chunks_by_windows(live: list[RequestOutcome]) -> list[list[RequestOutcome]]:
    """Requests grouped into inference jobs within the per-job limits; a request's texts are
    never split."""
    chunks: list[list[RequestOutcome]] = [[]]
    windows = items = 0
    for outcome in live:
        own_windows = sum(len(p.windows) for p in outcome.preprocessed)
        own_items = len(outcome.texts)
        if chunks[-1] and (
            windows + own_windows > Limits.MAX_WINDOWS_PER_JOB
            or items + own_items > Limits.MAX_ITEMS_PER_JOB
        ):
            chunks.append([])
            windows = items = 0
        chunks[-1].append(outcome)
        windows += own_windows
        items += own_items
    return chunks


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """Pydantic models inside a payload, dumped to plain JSON types for the HTTP client."""

    def dump(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list):
            return [dump(v) for v in value]
        if isinstance(value, dict):
            return {k: dump(v) for k, v in value.items()}
        return value

    return dump(payload)
