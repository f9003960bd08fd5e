"""The rate sweep: every layout at every traffic rate, on the same arrivals, and the break-even.

At each rate the simulation runs a warm-up, then measures a window long enough for about
`requests` requests (whole days for the day profile). During the warm-up the traffic ramps up
from zero to the rate, as real traffic grows, so that the measured window starts with the
workers a steady load keeps up, not those a cold endpoint hit by the full rate at once starts
for its backlog. Every layout sees the same arrivals and the same per-request stage times,
drawn from the measured set, so their difference is the layouts' and not the dice's.
"""

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cost_model.layouts import Layout
from cost_model.simulator import SimResult, simulate
from cost_model.stage_times import StageSample
from cost_model.traffic import PROFILES, measured_span_s


@dataclass
class RatePoint:
    rate: float  # requests per second, mean
    results: dict[str, SimResult]  # by layout name
    skipped: str | None = None


@dataclass(frozen=True)
class SweepSettings:
    profile: str = "poisson"
    requests: int = 1000
    warmup_s: float = 300.0
    max_requests: int = 200_000
    hop_s: float = 0.0
    seed: int = 0


def run_point(
    layouts: Sequence[Layout],
    rate: float,
    samples: Sequence[StageSample],
    settings: SweepSettings,
) -> RatePoint:
    end_s = settings.warmup_s + measured_span_s(settings.profile, rate, settings.requests)
    expected = rate * end_s
    if expected > settings.max_requests:
        return RatePoint(
            rate,
            {},
            skipped=f"{expected:,.0f} requests to simulate, over --max-requests "
            f"{settings.max_requests:,}",
        )
    # A string seed is hashed the same way in every Python process (unlike hash()).
    rng = random.Random(f"{settings.seed}/{settings.profile}/{rate!r}")
    warmup = settings.warmup_s
    arrivals = [
        t
        for t in PROFILES[settings.profile](rate, end_s, rng)
        if t >= warmup or rng.random() * warmup < t
    ]
    picks = rng.choices(samples, k=len(arrivals))
    results = {}
    for layout in layouts:
        routes = [layout.route(sample) for sample in picks]
        results[layout.name] = simulate(
            layout.endpoints,
            arrivals,
            routes,
            window=(settings.warmup_s, end_s),
            hop_s=settings.hop_s,
        )
    return RatePoint(rate, results)


def run_sweep(
    layouts: Sequence[Layout],
    rates: Sequence[float],
    samples: Sequence[StageSample],
    settings: SweepSettings,
    progress: Callable[[], None] = lambda: None,
) -> list[RatePoint]:
    points = []
    for rate in rates:
        points.append(run_point(layouts, rate, samples, settings))
        progress()
    return points


@dataclass(frozen=True)
class Crossing:
    rate: float  # requests per second where the two layouts cost the same (interpolated)
    cheaper_above: str  # the layout that is cheaper above it


def crossings(points: Sequence[RatePoint], first: str, second: str) -> list[Crossing]:
    """Where `first` and `second` swap places as the cheaper, interpolated in log(rate)."""
    found = []
    usable = [p for p in points if first in p.results and second in p.results]
    for low, high in itertools.pairwise(usable):
        d_low, d_high = (relative_difference(p, first, second) for p in (low, high))
        if d_low == 0 or d_low * d_high >= 0:
            continue
        share = d_low / (d_low - d_high)
        log_rate = math.log(low.rate) + share * (math.log(high.rate) - math.log(low.rate))
        found.append(Crossing(math.exp(log_rate), first if d_high < 0 else second))
    return found


def relative_difference(point: RatePoint, first: str, second: str) -> float:
    """(first - second) / second, cost per 1,000 requests: below 0 when `first` is cheaper."""
    a = point.results[first].cost_per_1000_usd
    b = point.results[second].cost_per_1000_usd
    return (a - b) / b
