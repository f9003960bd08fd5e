"""Coalesce the windows of concurrent jobs into shared, length-sorted forward passes.

Runpod hands one worker up to MAX_CONCURRENCY jobs at once when the handler is async. Each
job submits its windows here; a single background task waits MAX_BATCH_WAIT_MS for other
jobs, sorts everything pending by length (less padding), and runs batches of at most
MAX_BATCH_SIZE windows on one thread, so the GPU sees one pass at a time and the event
loop stays free to accept more jobs meanwhile.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from contracts import BatchingInfo

Forward = Callable[[list[list[int]]], list[list[float]]]


@dataclass
class _Job:
    sequences: list[list[int]]
    future: asyncio.Future
    results: list[list[float] | None] = field(default_factory=list)
    passes: int = 0
    largest_batch: int = 0
    max_jobs_in_a_pass: int = 0


class WindowBatcher:
    def __init__(self, forward: Forward, max_batch_size: int, max_batch_wait_ms: float):
        self._forward = forward
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_batch_wait_ms / 1000
        self._pending: list[_Job] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def classify(self, sequences: list[list[int]]) -> tuple[list[list[float]], BatchingInfo]:
        """Probabilities for each sequence, in order, and how they were batched."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._serve())
        job = _Job(sequences=sequences, future=loop.create_future())
        self._pending.append(job)
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    async def _serve(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            if sum(len(job.sequences) for job in self._pending) < self._max_batch_size:
                await asyncio.sleep(self._max_wait_s)
            jobs, self._pending = self._pending, []
            self._wakeup.clear()
            try:
                await self._run(jobs)
            except Exception as exc:  # a failed pass fails its jobs, not the worker
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    async def _run(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        entries = [(j, i) for j, job in enumerate(jobs) for i in range(len(job.sequences))]
        entries.sort(key=lambda entry: len(jobs[entry[0]].sequences[entry[1]]))
        for job in jobs:
            job.results = [None] * len(job.sequences)
        for start in range(0, len(entries), self._max_batch_size):
            chunk = entries[start : start + self._max_batch_size]
            batch = [jobs[j].sequences[i] for j, i in chunk]
            probs = await loop.run_in_executor(self._executor, self._forward, batch)
            members = {j for j, _ in chunk}
            for (j, i), row in zip(chunk, probs, strict=True):
                jobs[j].results[i] = row
            for j in members:
                job = jobs[j]
                job.passes += 1
                job.largest_batch = max(job.largest_batch, len(chunk))
                job.max_jobs_in_a_pass = max(job.max_jobs_in_a_pass, len(members))
        for job in jobs:
            if not job.future.done():  # a job whose caller went away is skipped
                info = BatchingInfo(
                    forward_passes=job.passes,
                    largest_batch=job.largest_batch,
                    max_jobs_in_a_pass=job.max_jobs_in_a_pass,
                )
                job.future.set_result((job.results, info))
