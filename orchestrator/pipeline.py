"""The pipeline: preprocess each text, one inference job for all, then postprocess.

Every stage output is validated against its contract before the next stage sees it, so a
worker that answers something else fails here with the stage's name, not three stages on.
"""

import asyncio
import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts import (
    ClassificationResult,
    InferenceOutput,
    PostprocessOutput,
    PreprocessOutput,
    Stage,
    StageTiming,
    Timings,
)
from orchestrator.runpod_client import StageEndpoint, StageError, StageFailedError

Output = TypeVar("Output", bound=BaseModel)


def parse_output(stage: Stage, model: type[Output], output: Any) -> Output:
    try:
        return model.model_validate(output)
    except ValidationError:
        raise StageFailedError(stage, "the worker's output does not match the contract") from None


def combined_timing(timings: list[StageTiming], wall_ms: float) -> StageTiming:
    """Jobs of one stage that ran side by side: the wall time, and the slowest job's parts."""
    queue = [t.queue_ms for t in timings if t.queue_ms is not None]
    execution = [t.execution_ms for t in timings if t.execution_ms is not None]
    return StageTiming(
        round_trip_ms=round(wall_ms, 3),
        queue_ms=max(queue) if queue else None,
        execution_ms=max(execution) if execution else None,
        jobs=len(timings),
    )


class Pipeline:
    def __init__(self, endpoints: dict[Stage, StageEndpoint]):
        self.endpoints = endpoints

    async def run_stage(self, stage: Stage, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        return await self.endpoints[stage].run(job_input)

    async def classify(self, texts: list[str]) -> tuple[list[ClassificationResult], Timings]:
        started = time.perf_counter()
        done: dict[str, StageTiming] = {}
        try:
            results = await self._classify(texts, done)
        except StageError as exc:
            # The error answer shows how far the request got, and how long each part took.
            exc.timings = {**done, **exc.timings}
            raise
        return results, Timings(**done, total_ms=round((time.perf_counter() - started) * 1000, 3))

    async def _classify(
        self, texts: list[str], done: dict[str, StageTiming]
    ) -> list[ClassificationResult]:
        preprocessed, done["preprocess"] = await self._preprocess_all(texts)

        inference_input = {
            "items": [
                {"windows": p.windows, "tokenizer_fingerprint": p.tokenizer.fingerprint}
                for p in preprocessed
            ]
        }
        raw, done["inference"] = await self.run_stage(Stage.INFERENCE, _jsonable(inference_input))
        inference = parse_output(Stage.INFERENCE, InferenceOutput, raw)
        if len(inference.results) != len(preprocessed):
            raise StageFailedError(Stage.INFERENCE, "the worker returned a wrong number of results")

        postprocess_input = {
            "items": [
                {
                    "windows": result.windows,
                    "stats": {
                        "word_count": p.word_count,
                        "sentence_count": p.sentence_count,
                        "char_count": p.char_count,
                    },
                }
                for p, result in zip(preprocessed, inference.results, strict=True)
            ],
            "model_info": inference.model_info,
        }
        raw, done["postprocess"] = await self.run_stage(
            Stage.POSTPROCESS, _jsonable(postprocess_input)
        )
        postprocessed = parse_output(Stage.POSTPROCESS, PostprocessOutput, raw)
        if len(postprocessed.results) != len(preprocessed):
            raise StageFailedError(
                Stage.POSTPROCESS, "the worker returned a wrong number of results"
            )
        return postprocessed.results

    async def _preprocess_all(self, texts: list[str]) -> tuple[list[PreprocessOutput], StageTiming]:
        started = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self.run_stage(Stage.PREPROCESS, {"text": text}))
                    for text in texts
                ]
        except* StageError as failures:
            # The first failure speaks for the batch; the TaskGroup cancelled the rest.
            raise failures.exceptions[0] from None
        wall_ms = (time.perf_counter() - started) * 1000
        timing = combined_timing([t.result()[1] for t in tasks], wall_ms)
        try:
            outputs = [
                parse_output(Stage.PREPROCESS, PreprocessOutput, t.result()[0]) for t in tasks
            ]
        except StageError as exc:
            exc.timings[Stage.PREPROCESS.value] = timing
            raise
        return outputs, timing


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
