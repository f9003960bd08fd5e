"""Closed-loop load: N callers, each starting its next call when its last one ends.

Every measurement that runs calls side by side uses this, bounded by a count AND a time,
so a slow machine finishes in bounded time and says what it managed.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class Loop(Generic[Result]):
    results: list[Result]
    seconds: float
    # "count" when every call asked for ran, "time" when the time bound stopped it first.
    bounded_by: str

    @property
    def per_second(self) -> float:
        return len(self.results) / self.seconds if self.seconds else 0.0


async def closed_loop(
    call: Callable[[int], Awaitable[Result]],
    concurrency: int,
    max_calls: int,
    max_seconds: float,
    ramp_s: float = 0.0,
) -> Loop[Result]:
    """Run call(0), call(1), ... with `concurrency` in flight, until `max_calls` have started
    or `max_seconds` have passed; calls already started always finish. The callers start
    evenly over the first `ramp_s` seconds (as real clients do not arrive in one instant)."""
    results: list[Result] = []
    started_calls = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def caller(number: int) -> None:
        nonlocal started_calls
        if ramp_s > 0:
            await asyncio.sleep(ramp_s * number / concurrency)
        while started_calls < max_calls and time.perf_counter() < deadline:
            index = started_calls
            started_calls += 1
            results.append(await call(index))

    await asyncio.gather(*(caller(number) for number in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Loop(results, elapsed, "count" if len(results) >= max_calls else "time")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
