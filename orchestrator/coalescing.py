"""Cross-request batching: concurrent requests share one job per stage.

Every Runpod job pays a fixed cost (the queue hop, the SDK's job fetch and result post, JSON,
validation), so N requests that each send three jobs are slow and, hosted, billed N times
over. Requests that arrive while others are in flight wait up to COALESCE_WAIT_MS for more
to join them (at most COALESCE_MAX_TEXTS texts), then all their texts run as one pipeline:
one preprocess job, one inference job, one postprocess job. Answers are split back per
request, in order. A request that finds nothing in flight goes at once: latency at
concurrency 1 does not grow.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from contracts import ClassificationResult, Route, RouteChoice, Stage, StageTiming, Timings
from orchestrator.errors import StageError, copied_error
from orchestrator.outcome import RequestOutcome

RunMany = Callable[
    [list[list[str]], list[str], list[RouteChoice]],
    Awaitable[tuple[list[RequestOutcome], dict[Stage, StageTiming]]],
]


@dataclass
class Answer:
    """One request's part of a shared run."""

    results: list[ClassificationResult]
    timings: Timings
    # Its texts over all the texts the run's jobs carried, and over a stage's jobs where
    # that differs (inference, whose jobs are per endpoint).
    share: float
    stage_shares: dict[Stage, float]
    route: Route | None


@dataclass
class _Waiter:
    texts: list[str]
    request_id: str
    route: RouteChoice
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Coalescer:
    def __init__(self, run_many: RunMany, wait_ms: float, max_texts: int):
        self._run_many = run_many
        self._wait_s = wait_ms / 1000
        self._max_texts = max_texts
        self._pending: list[_Waiter] = []
        self._pending_texts = 0
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = 0
        # Runs under way, kept so they are not garbage-collected mid-flight.
        self._runs: set[asyncio.Task] = set()

    async def classify(
        self, texts: list[str], request_id: str = "", route: RouteChoice = RouteChoice.GPU
    ) -> Answer:
        """This request's results, timings, share of the shared jobs and inference route,
        its texts run together with its neighbours' (whatever their routes)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        waiter = _Waiter(texts, request_id, route, loop.create_future())
        alone = self._wait_s <= 0 or (self._in_flight == 0 and not self._pending)
        if alone or len(texts) >= self._max_texts:
            self._dispatch([waiter])
        else:
            if self._pending_texts + len(texts) > self._max_texts:
                self._flush()
            self._pending.append(waiter)
            self._pending_texts += len(texts)
            if self._pending_texts >= self._max_texts:
                self._flush()
            elif self._timer is None:
                self._timer = loop.call_later(self._wait_s, self._flush)
        outcome, stage_timings, share, waited_ms = await waiter.future
        total_ms = round((time.perf_counter() - started) * 1000, 3)
        return Answer(
            results=outcome.results,
            timings=Timings(**stage_timings, coalesce_wait_ms=waited_ms, total_ms=total_ms),
            share=share,
            stage_shares=outcome.shares,
            route=outcome.route,
        )

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._pending, self._pending_texts = self._pending, [], 0
        # A request whose client went away while it waited is not run at all.
        group = [w for w in group if not w.future.done()]
        if group:
            self._dispatch(group)

    def _dispatch(self, group: list[_Waiter]) -> None:
        # Counted now, not when the task first runs: requests that arrive before it starts
        # must see it in flight, or each of them goes alone.
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._run(group))
        self._runs.add(task)
        # A callback, not a `finally`: a task cancelled before it starts runs no code.
        task.add_done_callback(self._run_ended)

        def on_waiter_done(_: asyncio.Future) -> None:
            # Everybody in the group went away: stop the run, which cancels its jobs.
            if all(w.future.cancelled() for w in group) and not task.done():
                task.cancel()

        for waiter in group:
            waiter.future.add_done_callback(on_waiter_done)

    def _run_ended(self, task: asyncio.Task) -> None:
        self._runs.discard(task)
        self._in_flight -= 1

    async def _run(self, group: list[_Waiter]) -> None:
        dispatched = time.perf_counter()
        try:
            await self._run_group(group, dispatched)
        finally:
            # Whatever happened, nobody is left waiting forever.
            for waiter in group:
                _settle(
                    waiter, exception=RuntimeError("the shared run ended"), dispatched=dispatched
                )

    async def _run_group(self, group: list[_Waiter], dispatched: float) -> None:
        try:
            outcomes, stage_timings = await self._run_many(
                [w.texts for w in group], [w.request_id for w in group], [w.route for w in group]
            )
        except StageError as exc:
            for waiter in group:
                _settle(waiter, exception=copied_error(exc), dispatched=dispatched)
            return
        except Exception as exc:  # a bug: every request in the group answers 500
            for waiter in group:
                _settle(waiter, exception=exc, dispatched=dispatched)
            return
        total_texts = sum(len(w.texts) for w in group)
        for waiter, outcome in zip(group, outcomes, strict=True):
            own_timings = {**stage_timings, **outcome.timings}
            if outcome.error is not None:
                outcome.error.timings = {**own_timings, **outcome.error.timings}
                _settle(waiter, exception=outcome.error, dispatched=dispatched)
            else:
                share = len(waiter.texts) / total_texts
                _settle(waiter, result=(outcome, own_timings, share), dispatched=dispatched)


def _settle(
    waiter: _Waiter,
    dispatched: float,
    result: tuple | None = None,
    exception: BaseException | None = None,
) -> None:
    if waiter.future.done():
        return
    waited_ms = round((dispatched - waiter.arrived) * 1000, 3)
    if exception is not None:
        waiter.future.set_exception(exception)
    else:
        assert result is not None
        waiter.future.set_result((*result, waited_ms))
