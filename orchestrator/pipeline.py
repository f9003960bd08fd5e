"""The pipeline: one preprocess job, one inference job, one postprocess job, for many texts.

The texts may belong to several requests (see coalescing.py): each request's outcome is its
own. A text a worker refuses fails its own request only; a stage that fails as a whole
fails every request in it. The inference stage has two endpoints (routing.py): each
request's texts go to the GPU one or the CPU one, so a run may have a job on each, and a
failure on one endpoint fails only the requests sent there (or sends them to the other).
Every stage output is validated against its contract before the next stage sees it, so a
worker that answers something else fails here with the stage's name, not three stages on.
"""

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts import (
    DEFAULT_SMART_MAX_CPU_TOKENS,
    ClassificationResult,
    InferenceOutput,
    InferenceTarget,
    Limits,
    ModelInfo,
    PostprocessOutput,
    PreprocessBatchOutput,
    PreprocessOutput,
    Route,
    RouteChoice,
    Stage,
    StageTiming,
    WindowPrediction,
    WorkerError,
)
from contracts.tracing import with_request_ids
from orchestrator.errors import (
    StageError,
    StageFailedError,
    StageRejectedInputError,
    typed_stage_error,
)
from orchestrator.gpu_availability import GpuTrouble
from orchestrator.metrics import Metrics
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.runpod_client import StageEndpoint


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
    route_choice: RouteChoice = RouteChoice.GPU
    preprocessed: list[PreprocessOutput] = field(default_factory=list)
    route: Route | None = None
    windows: list[list[WindowPrediction]] = field(default_factory=list)
    model_info: ModelInfo | None = None
    results: list[ClassificationResult] = field(default_factory=list)
    error: StageError | None = None
    # A stage's timing as this request saw it, and its share of that stage's jobs, where they
    # differ from the run's: the inference stage, whose jobs are per endpoint.
    timings: dict[str, StageTiming] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """The tokens the model reads for this request: every window of every text."""
        return sum(len(w.input_ids) for p in self.preprocessed for w in p.windows)


class Pipeline:
    def __init__(
        self,
        endpoints: dict[Stage, StageEndpoint],
        metrics: Metrics | None = None,
        router: InferenceRouter | None = None,
    ):
        self.endpoints = endpoints
        self.metrics = metrics or Metrics()
        # Without a router: the GPU endpoint alone, as /classify uses it.
        self.router = router or InferenceRouter(
            endpoints[Stage.INFERENCE],
            None,
            RoutingPolicy(DEFAULT_SMART_MAX_CPU_TOKENS, 0, has_cpu=False),
        )

    async def run_stage(
        self,
        stage: Stage,
        job_input: dict[str, Any],
        request_ids: list[str] | None = None,
        endpoint: StageEndpoint | None = None,
    ) -> tuple[Any, StageTiming]:
        """One job on the stage's endpoint (or `endpoint`, the inference stage's CPU one),
        carrying the ids of the requests it serves."""
        endpoint = endpoint or self.endpoints[stage]
        try:
            output, timing = await endpoint.run(with_request_ids(job_input, request_ids or []))
        except StageError as exc:
            self.metrics.stage_error(endpoint.name, exc.error_type)
            raise
        self.metrics.job(endpoint.name, timing)
        return output, timing

    async def classify_many(
        self,
        requests: list[list[str]],
        request_ids: list[str] | None = None,
        routes: list[RouteChoice] | None = None,
    ) -> tuple[list[RequestOutcome], dict[str, StageTiming]]:
        """Classify each request's texts with one job per stage for all of them (the
        inference stage: one per endpoint the requests' `routes` lead to).

        Raises StageError when a stage fails as a whole (every request fails with it); a
        request whose own text a worker refused, or whose inference endpoint failed, gets
        that error in its outcome instead.
        """
        ids = request_ids or [""] * len(requests)
        choices = routes or [RouteChoice.GPU] * len(requests)
        outcomes = [
            RequestOutcome(texts, rid, choice)
            for texts, rid, choice in zip(requests, ids, choices, strict=True)
        ]
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
        # Whether the GPU endpoint can serve is read beside the preprocess stage (a cached
        # reading most of the time), and only when a request leaves the choice to us.
        probe = None
        if any(o.route_choice is RouteChoice.SMART for o in outcomes):
            probe = asyncio.ensure_future(self.router.gpu_trouble())
        try:
            await self._preprocess(outcomes, done, shared_by)
            # Each later stage is shared by the requests still alive.
            live = [o for o in outcomes if o.error is None]
            if live:
                await self._infer(live, done, len(live), await self._gpu_trouble(live, probe))
        finally:
            if probe is not None and not probe.done():
                probe.cancel()
        live = [o for o in live if o.error is None]
        if live:
            await self._postprocess(live, done, len(live))

    async def _gpu_trouble(
        self, live: list[RequestOutcome], probe: asyncio.Future | None
    ) -> GpuTrouble | None:
        """The GPU endpoint's trouble, waited for only when a `smart` request is big enough
        to go there; otherwise the reading finishes in the background, for later requests."""
        policy = self.router.policy
        if probe is None or not any(
            o.route_choice is RouteChoice.SMART and o.tokens > policy.max_cpu_tokens for o in live
        ):
            return None
        return await probe

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
        self,
        live: list[RequestOutcome],
        done: dict[str, StageTiming],
        shared_by: int,
        gpu_trouble: GpuTrouble | None,
    ) -> None:
        for outcome in live:
            outcome.route = self.router.policy.choose(
                outcome.route_choice, outcome.tokens, gpu_trouble
            )
        timings: list[StageTiming] = []
        started = time.perf_counter()
        # Each endpoint's requests on their own: one endpoint's failure is not the other's.
        async with asyncio.TaskGroup() as group:
            for target in InferenceTarget:
                members = [o for o in live if o.route and o.route.endpoint is target]
                if members:
                    group.create_task(self._infer_on(target, members, started, timings))
        done["inference"] = combined_timing(timings, _ms_since(started), shared_by)
        for outcome in live:
            if outcome.route is not None:
                self.metrics.routed(outcome.route)

    async def _infer_on(
        self,
        target: InferenceTarget,
        members: list[RequestOutcome],
        started: float,
        all_timings: list[StageTiming],
    ) -> None:
        """The members' inference on one endpoint. When it fails, each member fails with it
        or, where the routing policy allows, runs again on the other endpoint."""
        timings: list[StageTiming] = []
        try:
            await self._infer_jobs(self.router.endpoint(target), members, timings)
        except StageError as exc:
            self.router.failed(target, exc)
            again = []
            for outcome in members:
                assert outcome.route is not None
                fallback = self.router.policy.fallback(outcome.route, exc)
                if fallback is None:
                    outcome.error = copied_error(exc)
                else:
                    outcome.route = fallback
                    again.append(outcome)
            if again:
                # Every fallback of one endpoint's failure goes to the other endpoint.
                other = again[0].route.endpoint  # type: ignore[union-attr]
                await self._infer_on(other, again, started, all_timings)
            return
        all_timings.extend(timings)
        # The request's own inference timing: its endpoint's jobs, since the stage began
        # (a fallback's time includes the failed attempt's).
        own = combined_timing(timings, _ms_since(started), len(members))
        texts = sum(len(o.texts) for o in members)
        for outcome in members:
            outcome.timings["inference"] = own
            outcome.shares["inference"] = len(outcome.texts) / texts

    async def _infer_jobs(
        self, endpoint: StageEndpoint, members: list[RequestOutcome], timings: list[StageTiming]
    ) -> None:
        async def run_chunk(chunk: list[RequestOutcome]) -> None:
            items = [
                {"windows": p.windows, "tokenizer_fingerprint": p.tokenizer.fingerprint}
                for o in chunk
                for p in o.preprocessed
            ]
            self.metrics.windows_per_job.observe(sum(len(i["windows"]) for i in items))
            shares = await self._shared_job(
                Stage.INFERENCE, chunk, {"items": items}, timings, InferenceOutput, endpoint
            )
            for outcome, output in shares:
                if output is not None:
                    outcome.windows = [r.windows for r in output.results]
                    outcome.model_info = output.model_info

        # A TaskGroup, not gather: when one job fails, its siblings are cancelled, and with
        # them their Runpod jobs (StageEndpoint.run), since nobody will read their answers.
        try:
            async with asyncio.TaskGroup() as group:
                for chunk in _chunks_by_windows(members):
                    group.create_task(run_chunk(chunk))
        except* StageError as failures:
            raise failures.exceptions[0] from None

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
        endpoint: StageEndpoint | None = None,
    ) -> list[tuple[RequestOutcome, Any]]:
        """One job for several requests' items; each request gets its slice of the output.

        When the worker refuses the input and several requests share the job, each runs
        alone once more, so the one whose text is at fault fails and the others do not.
        """
        counts = [len(o.texts) for o in members]
        try:
            raw, timing = await self.run_stage(stage, _jsonable(job_input), _ids(members), endpoint)
        except StageRejectedInputError:
            if len(members) == 1:
                raise
            return await self._one_by_one(stage, members, job_input, timings, model, endpoint)
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
        endpoint: StageEndpoint | None,
    ) -> list[tuple[RequestOutcome, Any]]:
        items = iter(job_input["items"])
        shares = [[next(items) for _ in o.texts] for o in members]

        async def alone(outcome: RequestOutcome, share: list[Any]) -> tuple[RequestOutcome, Any]:
            try:
                result = await self._shared_job(
                    stage, [outcome], {**job_input, "items": share}, timings, model, endpoint
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


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


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
