"""The inference worker's batcher: fair, capped, pipelined passes; a failed pass fails only its
own jobs. Forwards here are plain functions that record what they were given."""

import asyncio
import threading

import pytest

from inference_worker.batcher import WindowBatcher

# A deadlock guard, not a timing: a test that waits this long has failed anyway.
GUARD_S = 10


def echo(batch):
    """Each row says which sequence it came from: its length and first id."""
    return [[float(len(seq)), float(seq[0])] for seq in batch]


class Recorder:
    """A forward that records each pass's sequences and can hold pass 0 until released."""

    def __init__(self, hold_first: bool = False, fail_on: int | None = None):
        self.passes: list[list[list[int]]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, batch):
        with self._lock:
            self.passes.append([list(seq) for seq in batch])
        self.first_started.set()
        assert self.release.wait(GUARD_S)
        if self.fail_on is not None and any(self.fail_on in seq for seq in batch):
            raise RuntimeError("this pass failed")
        return echo(batch)


async def until(event: threading.Event) -> None:
    for _ in range(GUARD_S * 1000):
        if event.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


def test_concurrent_jobs_share_length_sorted_forward_passes():
    forward = Recorder()

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=4, max_batch_wait_ms=50)
        jobs = [[[j] * (j + 2), [j] * 1] for j in range(3)]  # 3 jobs, 2 windows each
        return jobs, await asyncio.gather(*(batcher.classify(job) for job in jobs))

    jobs, results = asyncio.run(scenario())
    # Six windows from three jobs: each job's shortest first, each pass sorted by length.
    assert [[len(seq) for seq in p] for p in forward.passes] == [[1, 1, 1, 2], [3, 4]]
    for job, (rows, info) in zip(jobs, results, strict=True):
        assert rows == echo(job)  # back in order
        assert info.max_jobs_in_a_pass >= 2
        assert info.largest_batch <= 4


def test_a_one_window_job_gets_into_the_next_pass_while_a_big_job_runs():
    forward = Recorder(hold_first=True)
    big_job = [[1, 5, 5]] * 2_000

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=32, max_batch_wait_ms=0)
        big = asyncio.ensure_future(batcher.classify(big_job))
        await until(forward.first_started)  # pass 0 runs; the full pass 1 is queued behind it
        small = asyncio.ensure_future(batcher.classify([[2]]))
        await asyncio.sleep(0)
        forward.release.set()
        rows, info = await small
        big_done_before_small = big.done()
        return rows, info, big_done_before_small, await big

    rows, info, big_done_before_small, (big_rows, big_info) = asyncio.run(scenario())
    assert rows == [[1.0, 2.0]]
    assert not big_done_before_small
    # The first pass formed after it arrived: pass 2 of the 63 the big job needs.
    assert [2] in forward.passes[2]
    assert info.forward_passes == 1 and info.max_jobs_in_a_pass == 2
    assert big_rows == echo(big_job) and big_info.forward_passes == 63


def test_a_pass_is_capped_by_padded_tokens_and_by_windows():
    forward = Recorder()
    lengths = [3, 40, 7, 12, 1, 30, 25, 2, 16, 9, 33, 5, 100]  # 100: over the cap alone
    jobs = [[[j + 1] * n for n in lengths[j::3]] for j in range(3)]

    async def scenario():
        batcher = WindowBatcher(forward, 4, max_batch_wait_ms=50, max_batch_tokens=64)
        return await asyncio.gather(*(batcher.classify(job) for job in jobs))

    results = asyncio.run(scenario())
    for job, (rows, _) in zip(jobs, results, strict=True):
        assert rows == echo(job)
    shapes = [[len(seq) for seq in p] for p in forward.passes]
    for shape in shapes:
        assert len(shape) <= 4
        assert shape == sorted(shape)
        assert len(shape) * max(shape) <= 64 or len(shape) == 1  # padded tokens
    assert [100] in shapes  # a window longer than the cap runs alone
    assert sorted(n for shape in shapes for n in shape) == sorted(lengths)


def test_a_failed_pass_fails_only_the_jobs_with_windows_in_it():
    forward = Recorder(fail_on=666)
    before_and_after = [[3], [4, 4, 4, 4]]
    failing = [[666], [9, 9, 9], [9, 9, 9, 9, 9]]  # its shortest window fails

    async def scenario():
        # One window a pass: A, B, C, then C's second window after B's pass has failed.
        batcher = WindowBatcher(forward, max_batch_size=1, max_batch_wait_ms=50)
        return await asyncio.gather(
            batcher.classify([[1]]),
            batcher.classify(failing),
            batcher.classify(before_and_after),
            return_exceptions=True,
        )

    alone, failed, survived = asyncio.run(scenario())
    assert alone[0] == [[1.0, 1.0]]
    assert isinstance(failed, RuntimeError)
    assert survived[0] == echo(before_and_after)
    assert forward.passes == [[[1]], [[666]], [[3]], [[4, 4, 4, 4]]]  # B's other windows skipped


def test_a_failed_pass_does_not_stop_the_batcher():
    calls = 0

    def forward(batch):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("CUDA out of memory")
        return [[0.5, 0.5] for _ in batch]

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=8, max_batch_wait_ms=0)
        with pytest.raises(RuntimeError):
            await batcher.classify([[1, 2]])
        return await batcher.classify([[1, 2]])

    rows, _ = asyncio.run(scenario())
    assert rows == [[0.5, 0.5]]


def test_the_next_pass_is_prepared_while_the_current_one_runs():
    second_prepared = threading.Event()
    prepared = 0
    overlapped: list[bool] = []

    def prepare(sequences):
        nonlocal prepared
        prepared += 1
        if prepared == 2:
            second_prepared.set()
        return sequences

    def forward(batch):
        if not overlapped:  # pass 0 ends only once pass 1 has been prepared meanwhile
            overlapped.append(second_prepared.wait(GUARD_S))
        return echo(batch)

    async def scenario():
        batcher = WindowBatcher(forward, 2, max_batch_wait_ms=0, prepare=prepare)
        return await batcher.classify([[1], [2], [3], [4]])

    rows, info = asyncio.run(scenario())
    assert overlapped == [True]
    assert rows == echo([[1], [2], [3], [4]]) and info.forward_passes == 2


def test_a_job_whose_caller_went_away_is_skipped():
    forward = Recorder(hold_first=True)

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=2, max_batch_wait_ms=0)
        abandoned = asyncio.ensure_future(batcher.classify([[7]] * 20))
        await until(forward.first_started)
        abandoned.cancel()
        await asyncio.sleep(0)
        forward.release.set()
        return await batcher.classify([[8]])

    rows, _ = asyncio.run(scenario())
    assert rows == [[1.0, 8.0]]
    # The passes already formed ran; none after them took the abandoned job's windows.
    assert sum(seq == [7] for p in forward.passes for seq in p) <= 4
