"""Admission: which pipeline requests run now, and which are answered 429 at once.

A fixed MAX_IN_FLIGHT cannot be right for every model, GPU and layout: set high, admitted
requests wait behind seconds of queued work (and their callers time out while the jobs bill);
set low, a fast GPU idles. So the limit is learnt from the pipeline's own round trips, and
MAX_IN_FLIGHT stays the hard ceiling.

Chosen: an adaptive concurrency limit over the measured round trip (as Envoy's adaptive
concurrency filter and Netflix's concurrency-limits do), not a queueing deadline:
- The orchestrator does not hold the queue. Its requests wait inside the stage endpoints
  (Runpod's queue, the worker's batcher), where no local deadline can see or shed them; a
  deadline on a local queue would only bound the part of the wait that is not the problem.
  The round trip is what the caller sees, and it includes every queue on the way.
- Refusing at once is the cheapest answer under overload: a 429 costs the orchestrator no
  job, and the caller can go elsewhere (Retry-After) instead of waiting for a refusal.
- It needs no figure that depends on the model or the hardware: the target is a multiple
  (ADMISSION_LATENCY_TOLERANCE) of the unloaded round trip, which is measured.

How (LatencyLimit):
- the unloaded round trip is the median of the last requests that ran alone (nothing else
  in flight from their start to their end). When traffic is light most do; under load, the
  limit is held at 1 until enough have (the probe), at start and whenever
  ADMISSION_PROBE_INTERVAL_S has passed without them;
- between probes, each window of requests admitted under one limit ends once enough of
  them are answered; its median round trip against the target moves the limit: over it,
  the limit shrinks in proportion (at most halved); under it, and only if the limit was
  actually reached in that window, it grows (at least by one, at most doubled);
- only 2xx answers are samples: a quick 422 or a 504 at the stage timeout says nothing
  about queueing.

Requests over the limit are answered 429 with Retry-After at once, in the one error shape.
While the orchestrator drains (SIGTERM, orchestrator/drain.py) new pipeline requests are
answered 503 instead, and what is still running when the grace period ends is cancelled:
answered 503, its stage jobs cancelled as for a client that went away.

ADMISSION=fixed turns the learning off: MAX_IN_FLIGHT alone, as before.
"""

import asyncio
import contextlib
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.errors import (
    OrchestratorError,
    ShuttingDownError,
    TooManyInFlightError,
    answer_error,
)
from orchestrator.metrics import Metrics

# Requests that ran alone, whose median is the unloaded round trip.
PROBE_SAMPLES = 10
# Answered requests of one window before its median counts.
WINDOW_SAMPLES = 5
# One window is at least this long, and at least two unloaded round trips.
MIN_WINDOW_S = 0.1
# How far one window may move the limit: at most halved, at most doubled.
MAX_DECREASE = 0.5
MAX_INCREASE = 2.0


@dataclass(frozen=True)
class Ticket:
    """What admission knew when it let a request in, to judge its round trip later."""

    window: int
    # Admissions so far, this one included: if none came after it, it ran alone to the end.
    number: int
    # Nothing else was in flight when it came.
    alone: bool
    started: float


class LatencyLimit:
    """The adaptive limit: how many pipeline requests may run at once (see the module)."""

    def __init__(
        self,
        ceiling: int,
        tolerance: float,
        probe_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ceiling = ceiling
        self.tolerance = tolerance
        self.probe_interval_s = probe_interval_s
        self._clock = clock
        # The limit between probes; a float, so small steps add up.
        self.limit = 1.0
        self.unloaded_s: float | None = None
        # The last round trips of requests that ran alone, whenever they did.
        self._alone: deque[float] = deque(maxlen=PROBE_SAMPLES)
        self._alone_since_probe = 0
        self.probing = True
        self._next_probe = 0.0
        self._admissions = 0
        self._window = 0
        self._window_started = clock()
        self._window_samples: list[float] = []
        self._reached = False

    @property
    def current(self) -> int:
        """Requests that may be in flight now."""
        if self.probing:
            return 1
        return max(1, min(self.ceiling, int(self.limit)))

    @property
    def target_s(self) -> float | None:
        return None if self.unloaded_s is None else self.tolerance * self.unloaded_s

    def admit(self, in_flight: int) -> Ticket | None:
        """A ticket when a request may start with `in_flight` others running, else None."""
        if in_flight >= self.current:
            self._reached = True
            return None
        if in_flight + 1 >= self.current:
            self._reached = True
        self._admissions += 1
        return Ticket(self._window, self._admissions, in_flight == 0, self._clock())

    def answered(self, ticket: Ticket) -> None:
        """A 2xx answer to a request admitted with `ticket`."""
        now = self._clock()
        seconds = now - ticket.started
        if ticket.alone and ticket.number == self._admissions:
            # It ran alone from start to end: an unloaded round trip, whether probed or not
            # (when traffic is light, most are).
            self._alone.append(seconds)
            self._alone_since_probe += 1
            self.unloaded_s = statistics.median(self._alone)
        if self.probing:
            if self._alone_since_probe >= PROBE_SAMPLES:
                self._end_probe(now)
            return
        # Requests admitted under an older limit say nothing about this one.
        if ticket.window != self._window:
            return
        self._window_samples.append(seconds)
        assert self.unloaded_s is not None
        long_enough = now - self._window_started >= max(MIN_WINDOW_S, 2 * self.unloaded_s)
        if len(self._window_samples) < WINDOW_SAMPLES or not long_enough:
            return
        self._adjust(statistics.median(self._window_samples))
        self._new_window(now)
        if now >= self._next_probe:
            if self._alone_since_probe >= PROBE_SAMPLES:
                # Enough requests ran alone lately: the unloaded round trip is fresh.
                self._end_probe(now)
            else:
                self.probing = True

    def _end_probe(self, now: float) -> None:
        self.probing = False
        self._alone_since_probe = 0
        self._next_probe = now + self.probe_interval_s
        self._new_window(now)

    def _adjust(self, round_trip_s: float) -> None:
        assert self.target_s is not None
        ratio = self.target_s / round_trip_s
        if ratio < 1:
            self.limit = max(1.0, self.limit * max(ratio, MAX_DECREASE))
        elif self._reached:
            grown = max(self.limit * min(ratio, MAX_INCREASE), self.limit + 1)
            self.limit = min(float(self.ceiling), grown)

    def _new_window(self, now: float) -> None:
        self._window += 1
        self._window_started = now
        self._window_samples = []
        self._reached = False


class FixedLimit:
    """ADMISSION=fixed: MAX_IN_FLIGHT, nothing learnt."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic):
        self.ceiling = ceiling
        self._clock = clock

    @property
    def current(self) -> int:
        return self.ceiling

    def admit(self, in_flight: int) -> Ticket | None:
        if in_flight >= self.ceiling:
            return None
        return Ticket(0, 0, in_flight == 0, self._clock())

    def answered(self, ticket: Ticket) -> None:
        pass


class Admission:
    """The requests in flight, the limit they are held to, and the drain."""

    def __init__(self, limit: LatencyLimit | FixedLimit, metrics: Metrics | None = None):
        self.limit = limit
        self.metrics = metrics
        self.in_flight = 0
        self.draining = False
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        # Tasks cancelled by the drain: they answer 503, not the client-gone silence.
        self._cut: set[asyncio.Task] = set()

    def enter(self) -> Ticket | None:
        ticket = self.limit.admit(self.in_flight)
        if ticket is not None:
            self._count(+1)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
        return ticket

    def leave(self, ticket: Ticket, ok: bool) -> None:
        self._count(-1)
        task = asyncio.current_task()
        self._tasks.discard(task)  # type: ignore[arg-type]
        self._cut.discard(task)  # type: ignore[arg-type]
        if ok:
            self.limit.answered(ticket)
            if self.metrics is not None:
                self.metrics.admission_limit.set(self.limit.current)

    def was_cut(self) -> bool:
        return asyncio.current_task() in self._cut

    def stop_admitting(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Whether every request in flight was answered within `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self.in_flight == 0

    def cancel_in_flight(self) -> int:
        """Cancel every request still running (each cancels its stage jobs); how many."""
        tasks = list(self._tasks)
        for task in tasks:
            self._cut.add(task)
            task.cancel()
        return len(tasks)

    def _count(self, change: int) -> None:
        self.in_flight += change
        if self.in_flight == 0:
            self._idle.set()
        else:
            self._idle.clear()
        if self.metrics is not None:
            self.metrics.in_flight.set(self.in_flight)


class AdmissionMiddleware:
    """Pure ASGI: admits the requests `counts` picks (those that run stage jobs), or
    answers 429 (over the limit) or 503 (draining) at once. Inside RequestGuard, which
    gives the request its id and start time."""

    def __init__(self, app: ASGIApp, admission: Admission, counts: Callable[[Scope], bool]):
        self.app = app
        self.admission = admission
        self._counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._counts(scope):
            await self.app(scope, receive, send)
            return
        admission = self.admission
        if admission.draining:
            await _refuse(scope, receive, send, ShuttingDownError())
            return
        ticket = admission.enter()
        if ticket is None:
            await _refuse(scope, receive, send, TooManyInFlightError(admission.limit.current))
            return
        answer = {"status": 0, "left": False}

        def leave() -> None:
            if not answer["left"]:
                answer["left"] = True
                admission.leave(ticket, ok=200 <= answer["status"] < 300)

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte goes: a client that sends its next request as soon
                # as it has this answer must find this one gone, or a closed loop of exactly
                # the limit's size is refused now and then.
                leave()
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            if not admission.was_cut() or answer["status"]:
                raise
            # The grace period is over: this request is answered, its jobs cancelled.
            await _refuse(scope, receive, send, ShuttingDownError(cut=True))
        finally:
            leave()


async def _refuse(scope: Scope, receive: Receive, send: Send, error: OrchestratorError) -> None:
    state = scope.get("state", {})
    response = answer_error(error, state.get("request_id", ""), state.get("started"))
    await response(scope, receive, send)
