"""The rate sweep: every layout at every traffic rate, on the same arrivals.

At each rate the simulation runs a warm-up, then measures a window long enough for about
`requests` requests (whole days for the day profile). During the warm-up the traffic ramps up
from zero to the rate, as real traffic grows, so that the measured window starts with the
workers a steady load keeps up, not those a cold endpoint hit by the full rate at once starts
for its backlog. Every layout sees the same arrivals and the same per-request stage times,
drawn from the measured set, and the same tokens, drawn from the text-length mix, so their
difference is the layouts' and not the dice's. The tokens have their own dice: a change of mix
changes nothing but the tokens.

The share sweep runs a smart layout again at each share of short requests, on the same
arrivals and stage times, to say at which share it starts to pay against its base layout
(whose cost the tokens do not change).
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cost_model.endpoints import DEFAULT_HOP_MS
from cost_model.layouts import Layout
from cost_model.simulator import SimResult, simulate
from cost_model.stage_times import StageSample
from cost_model.text_lengths import DEFAULT_MIX, TextLengthMix
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
    hop_s: float = DEFAULT_HOP_MS / 1000
    seed: int = 0
    text_lengths: TextLengthMix = DEFAULT_MIX


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
    token_rng = random.Random(f"{settings.seed}/{settings.profile}/{rate!r}/tokens")
    tokens = settings.text_lengths.draw(token_rng, len(arrivals))
    results = {}
    for layout in layouts:
        routes = [layout.route(sample, n) for sample, n in zip(picks, tokens, strict=True)]
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


@dataclass
class ShareRow:
    """One rate of the share sweep: a smart layout's cost against its base's, per share."""

    rate: float
    # (smart - base) / base, cost per 1,000 requests, by short share: below 0, smart is cheaper.
    against_base: dict[float, float]
    # The shares at which smart overloaded an endpoint: its cost there is too low to compare.
    overloaded: set[float] = field(default_factory=set)
    skipped: str | None = None

    def pays_from(self) -> float | None:
        """The share of short requests above which smart is cheaper at every share tried and
        not overloaded, interpolated; 0 when it is cheaper at all of them, None at none."""
        shares = sorted(set(self.against_base) - self.overloaded)
        costlier = [s for s in shares if self.against_base[s] >= 0]
        if not shares:
            return None
        if not costlier:
            return 0.0
        last = costlier[-1]
        if last == shares[-1]:
            return None
        above = shares[shares.index(last) + 1]
        d_low, d_high = self.against_base[last], self.against_base[above]
        return last + (above - last) * d_low / (d_low - d_high)


def share_sweep(
    smart: Layout,
    base: Layout,
    rates: Sequence[float],
    samples: Sequence[StageSample],
    settings: SweepSettings,
    shares: Sequence[float],
    max_cpu_tokens: int,
    done: Sequence[RatePoint] = (),
    progress: Callable[[], None] = lambda: None,
) -> list[ShareRow]:
    """At each rate, smart at each short share against its base; the base's results in `done`
    (the rate sweep's points) are used where it has them."""
    mixes = {s: settings.text_lengths.with_short_share(s, max_cpu_tokens) for s in shares}
    base_points = {p.rate: p for p in done if base.name in p.results}
    rows = []
    for rate in rates:
        point = base_points.get(rate) or run_point([base], rate, samples, settings)
        if point.skipped:
            rows.append(ShareRow(rate, {}, skipped=point.skipped))
            progress()
            continue
        base_cost = point.results[base.name].cost_per_1000_usd
        row = ShareRow(rate, {})
        for share, mix in mixes.items():
            at_share = run_point([smart], rate, samples, replace(settings, text_lengths=mix))
            result = at_share.results[smart.name]
            row.against_base[share] = result.cost_per_1000_usd / base_cost - 1
            if result.overloaded:
                row.overloaded.add(share)
        rows.append(row)
        progress()
    return rows
