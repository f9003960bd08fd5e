"""A stage run in this process: a StageClient over a worker's own handler, not an endpoint.

LAYOUT=inline runs preprocess and postprocess here (and, with CPU_INFERENCE_ENDPOINT=inline,
the CPU inference); the all-stage worker (single_worker/) runs all three so. The handler is
the worker's own job wrapper around the worker's own stage function (worker_runtime.jobs):
the same input checks, the same typed errors, read back exactly as a FAILED Runpod job's
(errors.failed_job_error), so a route answers the same in every layout.

A stage function is synchronous CPU work: it runs on a bounded thread pool, never on the
event loop (`pooled`), which can report each call's CPU time (`CpuRecorder`): the thread's
own, so the orchestrator's CPU can be told apart from the stages' it runs.
"""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from contracts import Stage, StageTiming
from orchestrator.errors import failed_job_error
from orchestrator.stage_client import HealthReading

# A Runpod handler: the job ({"id", "input"}) in, its output or {"error": ...} out.
JobHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
StageFunction = Callable[[Any], Any]
# Told the CPU-seconds one stage call used on its pool thread.
CpuRecorder = Callable[[Stage, float], None]
_HERE = "in this process"


def pooled(
    stage: Stage, work: StageFunction, pool: Executor, on_cpu: CpuRecorder | None = None
) -> JobHandler:
    """A handler that runs `work` (a worker's stage function) on `pool`, inside the workers'
    own job wrapper; its output is made plain data there too, off the event loop. `on_cpu` is
    told each call's CPU time, failed calls included: the pool thread's own, since a stage
    call runs wholly on it (the tokenizer encodes one text at a time, on the caller's thread)
    and the time another thread holds the GIL is not counted. Imported here, not at the top:
    only a layout that runs stages in process loads the worker runtime."""
    from worker_runtime.jobs import answer_job, plain

    def run(job_input: Any) -> Any:
        started = time.thread_time()
        try:
            return plain(work(job_input))
        finally:
            if on_cpu is not None:
                on_cpu(stage, time.thread_time() - started)

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await answer_job(
            stage.value, job, lambda job_input: loop.run_in_executor(pool, run, job_input)
        )

    return handler


class InProcessStage:
    """One stage's handler, called directly: a StageClient with no hop."""

    def __init__(self, stage: Stage, handler: JobHandler, name: str | None = None):
        self.stage = stage
        self.name = name or stage.value
        self._handler = handler
        self._job_ids = itertools.count(1)

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        started = time.perf_counter()
        result = await self._handler(
            {"id": f"{self.name}-{next(self._job_ids)}", "input": job_input}
        )
        timing = StageTiming(
            round_trip_ms=round((time.perf_counter() - started) * 1000, 3), in_process=True
        )
        if isinstance(result, dict) and "error" in result:
            exc = failed_job_error(self.stage, result["error"])
            exc.timings[self.stage] = timing
            raise exc
        return result, timing

    async def health(self, timeout_s: float) -> HealthReading:
        """Always able to serve: it is this process."""
        return HealthReading(hosted=False, status_code=200, worker_sign=_HERE)

    async def drain_cancellations(self) -> None:
        """Nothing to cancel: no job left this process."""
