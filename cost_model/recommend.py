"""Which layout to deploy: the cheapest at each rate, and how heavy the CPU stages must be
before the split pays.

The cheapest layout at a rate is the one with the lowest cost per 1,000 requests among those
that did not overload an endpoint (an overloaded endpoint leaves work unbilled, so its cost
is too low to compare). Its saving is against the next cheapest; its latency is its p50,
beside the fastest layout's.

The break-even of the split against another layout (inline, single) is found by search, not
solved: every request's preprocess and postprocess times are multiplied by a scale (the
inference times, GPU's and CPU's, stay), doubling from 1 until the split is the cheaper of
the two, then bisecting BISECTIONS times between the last two scales. The split is the
cheaper when it costs less, or when the other overloaded an endpoint and the split did not.
The answer is the first such scale found, in ms of preprocess + postprocess per request; the
search does not prove there is no other crossing, and gives up past MAX_SCALE. At each scale
both layouts run on the same arrivals.
"""

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cost_model.layouts import Layout
from cost_model.simulator import SimResult
from cost_model.stage_times import StageSample
from cost_model.sweep import RatePoint, SweepSettings, run_point

# Cheaper by less than this is a tie: within the simulation's noise, choose by latency.
TIE = 0.005
MAX_SCALE = 1024.0
BISECTIONS = 4


@dataclass(frozen=True)
class Recommendation:
    rate: float
    cheapest: str | None  # None: every layout overloaded, or the rate was skipped
    cost_per_1000_usd: float = math.nan
    runner_up: str | None = None
    saving: float = math.nan  # against the runner-up, a fraction of its cost
    p50_s: float = math.nan
    fastest: str | None = None  # by p50, among those not overloaded
    fastest_p50_s: float = math.nan
    overloaded: tuple[str, ...] = ()
    skipped: str | None = None

    @property
    def tie(self) -> bool:
        return self.runner_up is not None and self.saving < TIE


def usable(point: RatePoint) -> dict[str, SimResult]:
    return {name: r for name, r in point.results.items() if not r.overloaded}


def recommend(point: RatePoint) -> Recommendation:
    if point.skipped:
        return Recommendation(point.rate, None, skipped=point.skipped)
    overloaded = tuple(name for name, r in point.results.items() if r.overloaded)
    results = usable(point)
    if not results:
        return Recommendation(point.rate, None, overloaded=overloaded)
    ranked = sorted(results, key=lambda name: results[name].cost_per_1000_usd)
    cheapest = results[ranked[0]]
    fastest = min(results, key=lambda name: results[name].latency_percentile_s(0.5))
    runner_up = ranked[1] if len(ranked) > 1 else None
    saving = (
        1 - cheapest.cost_per_1000_usd / results[runner_up].cost_per_1000_usd
        if runner_up
        else math.nan
    )
    return Recommendation(
        rate=point.rate,
        cheapest=ranked[0],
        cost_per_1000_usd=cheapest.cost_per_1000_usd,
        runner_up=runner_up,
        saving=saving,
        p50_s=cheapest.latency_percentile_s(0.5),
        fastest=fastest,
        fastest_p50_s=results[fastest].latency_percentile_s(0.5),
        overloaded=overloaded,
    )


def scaled(samples: Sequence[StageSample], scale: float) -> list[StageSample]:
    """The samples with their CPU stages' times multiplied by `scale`."""
    return [
        replace(s, preprocess_s=s.preprocess_s * scale, postprocess_s=s.postprocess_s * scale)
        for s in samples
    ]


def cpu_stage_ms(samples: Sequence[StageSample]) -> float:
    """Mean preprocess + postprocess per request, in ms."""
    return statistics.fmean(s.preprocess_s + s.postprocess_s for s in samples) * 1000


@dataclass
class BreakEven:
    """Where `split` starts to pay against `other` at `rate`, as the CPU stages grow."""

    rate: float
    split: str
    other: str
    your_cpu_ms: float  # mean preprocess + postprocess per request, as given
    # The first scale found at which `split` is the cheaper; None if none up to MAX_SCALE.
    scale: float | None = None
    # At `scale`, `other` overloaded an endpoint, so it is out (too cheap to compare).
    other_overloaded: bool = False
    tried: list[float] = field(default_factory=list)
    skipped: str | None = None

    @property
    def cpu_ms(self) -> float:
        return self.your_cpu_ms * (self.scale or math.nan)


def break_even(
    split: Layout,
    other: Layout,
    rate: float,
    samples: Sequence[StageSample],
    settings: SweepSettings,
    at_scale_1: RatePoint | None = None,
    progress: Callable[[], None] = lambda: None,
) -> BreakEven:
    """How far the CPU stages' times must scale before `split` is cheaper than `other` at
    `rate`. `at_scale_1`: the sweep's point at this rate, reused when it holds both."""
    found = BreakEven(rate, split.name, other.name, cpu_stage_ms(samples))
    reusable = at_scale_1 is not None and {split.name, other.name} <= set(at_scale_1.results)

    def split_pays(scale: float) -> bool | None:
        """None: the rate was skipped."""
        found.tried.append(scale)
        if scale == 1 and reusable:
            point = at_scale_1
        else:
            point = run_point([split, other], rate, scaled(samples, scale), settings)
            progress()
        if point.skipped:
            found.skipped = point.skipped
            return None
        ours, theirs = point.results[split.name], point.results[other.name]
        found.other_overloaded = bool(theirs.overloaded)
        if ours.overloaded:
            return False
        return bool(theirs.overloaded) or ours.cost_per_1000_usd < theirs.cost_per_1000_usd

    low, high = 0.0, 1.0
    while not (pays := split_pays(high)):
        if pays is None or high >= MAX_SCALE:
            found.other_overloaded = False
            return found
        low, high = high, high * 2
    if low == 0:
        found.scale = 1.0
        return found
    overloaded_at_high = found.other_overloaded
    for _ in range(BISECTIONS):
        middle = math.sqrt(low * high)
        if split_pays(middle):
            high, overloaded_at_high = middle, found.other_overloaded
        else:
            low = middle
    found.scale, found.other_overloaded = high, overloaded_at_high
    return found
