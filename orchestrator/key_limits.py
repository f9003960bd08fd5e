"""Per-key limits: a request rate (a token bucket) and requests in flight, for each caller key.

One key cannot take the whole orchestrator: past API_KEY_RATE_PER_S (with bursts up to
API_KEY_BURST) or API_KEY_MAX_IN_FLIGHT, its requests are refused with the time to wait,
while other keys go on. A limit of 0 is none. The state is one bucket and one count per
configured key, so it cannot grow with traffic.
"""

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after_s: int


class TokenBucket:
    """`burst` requests at once, refilled at `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: int, now: float):
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate_per_s)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate_per_s


class KeyLimits:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_in_flight: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._in_flight: dict[str, int] = defaultdict(int)

    def enter(self, key_id: str) -> Refusal | None:
        """Admit one request of `key_id` (counted until `leave`), or say why not."""
        if self.max_in_flight and self._in_flight[key_id] >= self.max_in_flight:
            return Refusal(
                f"Too many requests in flight for this API key (maximum {self.max_in_flight}); "
                "retry after 1 second",
                1,
            )
        if self.rate_per_s:
            now = self._clock()
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = TokenBucket(self.rate_per_s, self.burst, now)
            wait_s = bucket.take(now)
            if wait_s > 0:
                retry_after_s = max(1, math.ceil(wait_s))
                return Refusal(
                    f"Too many requests for this API key (at most {self.rate_per_s:g} a second, "
                    f"{self.burst} at once); retry after {retry_after_s} "
                    f"second{'s' if retry_after_s > 1 else ''}",
                    retry_after_s,
                )
        self._in_flight[key_id] += 1
        return None

    def leave(self, key_id: str) -> None:
        self._in_flight[key_id] -= 1

    def in_flight(self, key_id: str) -> int:
        return self._in_flight[key_id]
