"""Share forward passes among concurrent jobs, fairly, and keep the device busy.

Runpod hands one worker up to MAX_CONCURRENCY jobs at once (the handler is async). Each job
submits its windows here, and one background task forms the forward passes:

- Bounded: a pass holds at most MAX_BATCH_SIZE windows and MAX_BATCH_TOKENS padded tokens
  (rows x its longest row), the size the device actually computes. A window longer than
  the token cap runs alone.
- Fair: the jobs waiting are served round-robin, one window each per round, and the next pass
  starts where the last one stopped, so every waiting job gets a share of the next pass
  formed (of one of the next few, when more jobs wait than a pass holds): a one-window job
  never waits behind a 2,000-window job, and the big job still moves on every pass.
- Length-aware: each job gives its shortest windows first, so its passes hold windows of
  similar lengths (little padding), and a pass is sorted by length.
- Pipelined: passes run on one forward thread. While pass k runs, a full pass k+1 is formed,
  prepared (padded, on a second thread) and queued behind it, so the device goes from one
  pass to the next without waiting for Python. A pass that is not full waits for the running
  one to end instead, gathering the jobs that arrive meanwhile.
- Padding-aware: on a CPU, where every padded token is computed, a pass of mixed lengths runs
  as several narrower forwards of similar lengths (MAX_PADDING_SHARE, padding.py).
- Isolated: a failed pass fails the jobs that had windows in it, and only those.

When the device is idle, the first job waits up to MAX_BATCH_WAIT_MS for others to join it.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from contracts import BatchingInfo
from inference_worker.padding import similar_length_runs

# One forward pass: sequences of token ids (lists or numpy rows) in, one row of
# probabilities per sequence out. With a `prepare` step, it receives what prepare made.
Forward = Callable[[Any], Sequence[Sequence[float]]]
Prepare = Callable[[list[Sized]], Any]


@dataclass(eq=False)
class _Job:
    sequences: Sequence[Sized]
    future: asyncio.Future
    # Window indices, shortest first, and their lengths in that order.
    order: list[int]
    lengths: list[int]
    taken: int = 0  # windows of `order` already given to a pass
    outstanding: int = 0  # windows whose rows have not come back
    rows: list[Any] = field(default_factory=list)
    passes: int = 0
    largest_batch: int = 0
    max_jobs_in_a_pass: int = 0

    @property
    def untaken(self) -> int:
        return len(self.order) - self.taken


@dataclass(eq=False)
class _Pass:
    owners: list[tuple[_Job, int]]  # (job, window index) of each row, in row order
    sequences: list[Sized]
    members: list[_Job]
    result: asyncio.Future | None = None


class WindowBatcher:
    def __init__(
        self,
        forward: Forward,
        max_batch_size: int,
        max_batch_wait_ms: float,
        max_batch_tokens: int | None = None,
        prepare: Prepare | None = None,
        max_padding_share: float | None = None,
    ):
        self._forward = forward
        self._prepare = prepare
        self._max_padding_share = max_padding_share
        self._max_batch_size = max_batch_size
        self._max_batch_tokens = max_batch_tokens
        self._max_wait_s = max_batch_wait_ms / 1000
        self._forward_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forward")
        self._prepare_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") if prepare else None
        )
        self._jobs: list[_Job] = []  # jobs with windows not yet in a pass, oldest first
        self._waiting = 0  # windows not yet in a pass
        self._waiting_tokens = 0
        self._arrival: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    async def classify(
        self, sequences: Sequence[Sized]
    ) -> tuple[list[Sequence[float]], BatchingInfo]:
        """Probabilities for each sequence, in order, and how they were batched."""
        if not sequences:
            return [], BatchingInfo(forward_passes=0, largest_batch=0, max_jobs_in_a_pass=0)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._jobs, self._waiting, self._waiting_tokens, self._arrival = [], 0, 0, None
            self._task = loop.create_task(self._serve())
        sizes = [len(seq) for seq in sequences]
        order = sorted(range(len(sizes)), key=sizes.__getitem__)
        job = _Job(
            sequences=sequences,
            future=loop.create_future(),
            order=order,
            lengths=[sizes[i] for i in order],
            outstanding=len(sizes),
            rows=[None] * len(sizes),
        )
        self._jobs.append(job)
        self._waiting += len(sizes)
        self._waiting_tokens += sum(sizes)
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        return await job.future

    # The serving loop -------------------------------------------------------------------

    async def _serve(self) -> None:
        in_flight: deque[_Pass] = deque()
        try:
            while True:
                if not in_flight and not self._waiting:
                    await self._next_arrival()
                    await self._linger()
                if self._waiting and (not in_flight or (len(in_flight) == 1 and self._full())):
                    batch = await self._start_pass()
                    if batch is not None:
                        in_flight.append(batch)
                    continue
                # Wait for the running pass; with one in flight, a new job may make the
                # next pass full, and then it is prepared at once.
                awaited = [in_flight[0].result]
                if len(in_flight) == 1:
                    awaited.append(self._arrival_future())
                await asyncio.wait(awaited, return_when=asyncio.FIRST_COMPLETED)
                while in_flight and in_flight[0].result.done():
                    self._finish(in_flight.popleft())
        except Exception as exc:  # a bug here must not leave jobs waiting forever
            for job in [*self._jobs, *(j for b in in_flight for j in b.members)]:
                if not job.future.done():
                    job.future.set_exception(exc)
            raise

    def _arrival_future(self) -> asyncio.Future:
        if self._arrival is None or self._arrival.done():
            self._arrival = asyncio.get_running_loop().create_future()
        return self._arrival

    async def _next_arrival(self) -> None:
        while not self._waiting:
            await self._arrival_future()

    def _full(self) -> bool:
        return self._waiting >= self._max_batch_size or (
            self._max_batch_tokens is not None and self._waiting_tokens >= self._max_batch_tokens
        )

    async def _linger(self) -> None:
        """The device is idle and a job arrived: give others a moment to share its pass."""
        if self._max_wait_s <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait_s
        while not self._full():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.wait([self._arrival_future()], timeout=remaining)

    async def _start_pass(self) -> _Pass | None:
        """Form the next pass, prepare its inputs (while the running pass computes) and queue
        it on the forward thread."""
        batch = self._take_pass()
        if batch is None:
            return None
        loop = asyncio.get_running_loop()
        runs = similar_length_runs(list(map(len, batch.sequences)), self._max_padding_share)
        inputs: list[Any] = [batch.sequences[run] for run in runs]
        if self._prepare is not None:
            try:
                inputs = await loop.run_in_executor(self._prepare_thread, self._prepare_all, inputs)
            except Exception as exc:
                self._fail(batch, exc)
                return None
        batch.result = loop.run_in_executor(self._forward_thread, self._forward_all, inputs)
        return batch

    def _prepare_all(self, runs: list[list[Sized]]) -> list[Any]:
        assert self._prepare is not None
        return [self._prepare(run) for run in runs]

    def _forward_all(self, inputs: list[Any]) -> list[Sequence[float]]:
        """A pass's runs one after the other, their rows in the pass's order."""
        return [row for run in inputs for row in self._forward(run)]

    # Forming a pass ---------------------------------------------------------------------

    def _take_pass(self) -> _Pass | None:
        self._drop_finished_jobs()
        if not self._jobs:
            return None
        counts = dict.fromkeys(self._jobs, 0)
        rows = longest = 0
        last_served = self._jobs[0]
        candidates = list(self._jobs)
        while candidates and rows < self._max_batch_size:
            still: list[_Job] = []
            for job in candidates:
                if rows >= self._max_batch_size:
                    break
                position = job.taken + counts[job]
                if position >= len(job.order):
                    continue
                length = job.lengths[position]
                widest = max(longest, length)
                if (
                    rows
                    and self._max_batch_tokens is not None
                    and (rows + 1) * widest > self._max_batch_tokens
                ):
                    continue  # its next window is no shorter: it is done for this pass
                counts[job] += 1
                rows += 1
                longest = widest
                last_served = job
                still.append(job)
            candidates = still
        # The next pass starts with the job after the last one served: with more jobs than a
        # pass holds, each still gets its turn.
        turn = self._jobs.index(last_served) + 1
        self._jobs = self._jobs[turn:] + self._jobs[:turn]
        picked: list[tuple[int, _Job, int]] = []
        for job, count in counts.items():
            if count:
                start = job.taken
                picked.extend(
                    (job.lengths[p], job, job.order[p]) for p in range(start, start + count)
                )
                job.taken += count
        picked.sort(key=lambda entry: entry[0])
        self._waiting -= rows
        self._waiting_tokens -= sum(entry[0] for entry in picked)
        return _Pass(
            owners=[(job, index) for _, job, index in picked],
            sequences=[job.sequences[index] for _, job, index in picked],
            members=[job for job, count in counts.items() if count],
        )

    def _drop_finished_jobs(self) -> None:
        """Forget jobs fully taken, failed, or whose caller went away (their windows are
        skipped)."""
        kept = []
        for job in self._jobs:
            if job.untaken and not job.future.done():
                kept.append(job)
            else:
                self._forget_untaken(job)
        self._jobs = kept

    def _forget_untaken(self, job: _Job) -> None:
        self._waiting -= job.untaken
        self._waiting_tokens -= sum(job.lengths[job.taken :])
        job.taken = len(job.order)

    # A pass's outcome -------------------------------------------------------------------

    def _finish(self, batch: _Pass) -> None:
        assert batch.result is not None
        exc = batch.result.exception()
        if exc is None:
            rows = batch.result.result()
            if len(rows) != len(batch.owners):
                exc = RuntimeError(f"forward returned {len(rows)} rows for {len(batch.owners)}")
        if exc is not None:
            self._fail(batch, exc)
            return
        for (job, index), row in zip(batch.owners, rows, strict=True):
            job.rows[index] = row
            job.outstanding -= 1
        for job in batch.members:
            job.passes += 1
            job.largest_batch = max(job.largest_batch, len(batch.owners))
            job.max_jobs_in_a_pass = max(job.max_jobs_in_a_pass, len(batch.members))
            if not job.outstanding and not job.future.done():  # its caller may have gone
                info = BatchingInfo(
                    forward_passes=job.passes,
                    largest_batch=job.largest_batch,
                    max_jobs_in_a_pass=job.max_jobs_in_a_pass,
                )
                job.future.set_result((job.rows, info))

    def _fail(self, batch: _Pass, exc: BaseException) -> None:
        for job in batch.members:
            if not job.future.done():
                job.future.set_exception(exc)
            if job.untaken:
                self._forget_untaken(job)
