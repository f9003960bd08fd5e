"""Arrival profiles: when requests come, at a given mean rate (requests per second).

- `poisson`: independent arrivals at a steady rate.
- `bursty`: the same mean rate in bursts of BURST_SIZE requests, each burst spread over
  BURST_SPREAD_S seconds; the bursts themselves arrive as a Poisson process.
- `day`: a day with a quiet night. From 00:00 to 08:00 the rate is NIGHT_FACTOR times the
  mean, from 08:00 to 24:00 DAY_FACTOR times it (0.2 and 1.4: the mean over a day is the
  rate asked for). Time 0 is midnight.

Each takes a random.Random, so a seed makes every run the same.
"""

import math
import random
from collections.abc import Callable

BURST_SIZE = 10
BURST_SPREAD_S = 1.0
DAY_S = 86_400.0
NIGHT_END_S = 8 * 3600.0
NIGHT_FACTOR = 0.2
DAY_FACTOR = 1.4  # (8 h x 0.2 + 16 h x 1.4) / 24 h = 1

Profile = Callable[[float, float, random.Random], list[float]]


def poisson(rate: float, end_s: float, rng: random.Random) -> list[float]:
    arrivals = []
    t = rng.expovariate(rate)
    while t < end_s:
        arrivals.append(t)
        t += rng.expovariate(rate)
    return arrivals


def bursty(rate: float, end_s: float, rng: random.Random) -> list[float]:
    arrivals = []
    for burst_at in poisson(rate / BURST_SIZE, end_s, rng):
        arrivals.extend(
            t
            for t in (burst_at + rng.uniform(0, BURST_SPREAD_S) for _ in range(BURST_SIZE))
            if t < end_s
        )
    arrivals.sort()
    return arrivals


def day_factor(t: float) -> float:
    return NIGHT_FACTOR if t % DAY_S < NIGHT_END_S else DAY_FACTOR


def day(rate: float, end_s: float, rng: random.Random) -> list[float]:
    # Thinning: candidates at the peak rate, each kept with probability factor / peak.
    peak = rate * max(NIGHT_FACTOR, DAY_FACTOR)
    return [
        t
        for t in poisson(peak, end_s, rng)
        if rng.random() * max(NIGHT_FACTOR, DAY_FACTOR) < day_factor(t)
    ]


PROFILES: dict[str, Profile] = {"poisson": poisson, "bursty": bursty, "day": day}
# Profiles whose measured window must cover whole periods to mean anything.
PERIOD_S: dict[str, float] = {"day": DAY_S}


def measured_span_s(profile: str, rate: float, requests: int) -> float:
    """How long to measure for about `requests` requests: whole days for the day profile."""
    span = requests / rate
    period = PERIOD_S.get(profile)
    return math.ceil(span / period) * period if period else span
