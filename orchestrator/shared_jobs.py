"""One job for several requests' texts (see coalescing.py): each request gets its slice of the
output, and a text a worker refuses fails its own request only.

When the worker refuses a shared job's input, each request runs alone once more, so the one
whose text is at fault fails and the others do not.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from contracts import InferenceOutput, Limits, PostprocessOutput, Stage, StageTiming
from orchestrator.errors import (
    StageFailedError,
    StageRejectedInputError,
    first_stage_error,
)
from orchestrator.outcome import RequestOutcome, request_ids
from orchestrator.stage_client import StageClient
from orchestrator.stage_output import parse_output

# Pipeline.run_stage: one job on a stage's endpoint (or the one given), for these requests.
RunStage = Callable[
    [Stage, dict[str, Any], list[str], StageClient | None], Awaitable[tuple[Any, StageTiming]]
]
SharedOutput = type[InferenceOutput] | type[PostprocessOutput]


async def shared_job(
    run_stage: RunStage,
    stage: Stage,
    members: list[RequestOutcome],
    job_input: dict[str, Any],
    timings: list[StageTiming],
    model: SharedOutput,
    endpoint: StageClient | None = None,
) -> list[tuple[RequestOutcome, Any]]:
    """One job for several requests' items; each request gets its slice of the output."""
    counts = [len(o.texts) for o in members]
    try:
        raw, timing = await run_stage(stage, jsonable(job_input), request_ids(members), endpoint)
    except StageRejectedInputError:
        if len(members) == 1:
            raise
        return await _one_by_one(run_stage, stage, members, job_input, timings, model, endpoint)
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
    run_stage: RunStage,
    stage: Stage,
    members: list[RequestOutcome],
    job_input: dict[str, Any],
    timings: list[StageTiming],
    model: SharedOutput,
    endpoint: StageClient | None,
) -> list[tuple[RequestOutcome, Any]]:
    items = iter(job_input["items"])
    shares = [[next(items) for _ in o.texts] for o in members]

    async def alone(outcome: RequestOutcome, share: list[Any]) -> tuple[RequestOutcome, Any]:
        try:
            result = await shared_job(
                run_stage, stage, [outcome], {**job_input, "items": share}, timings, model, endpoint
            )
        except StageRejectedInputError as exc:
            outcome.error = exc
            return outcome, None
        return result[0]

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(alone(o, share)) for o, share in zip(members, shares, strict=True)
            ]
    except BaseExceptionGroup as failures:
        raise first_stage_error(failures) from None
    return [task.result() for task in tasks]


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
        in_process=bool(timings) and all(t.in_process for t in timings),
    )


def chunks_by_windows(live: list[RequestOutcome]) -> list[list[RequestOutcome]]:
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


def jsonable(payload: dict[str, Any]) -> dict[str, Any]:
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
