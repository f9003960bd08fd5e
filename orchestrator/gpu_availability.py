"""Whether the GPU inference endpoint can take work now: /classify-smart's fallback reads it.

Two sources. The endpoint's own /health: hosted, it shows the workers and the queue, and a
queue with no ready worker that lasts SMART_GPU_MAX_QUEUE_S is a backlog (a dry GPU pool
looks like this: jobs wait for minutes); Runpod's local API server has no /health route, so
there any answer means the endpoint is up. And the jobs themselves: one that could not
reach the endpoint marks it unreachable at once. A reading serves every request for
SMART_GPU_HEALTH_INTERVAL_S, so the check costs one small call per interval, not one per
request, and it runs beside the preprocess stage.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts import RouteReason
from orchestrator.stage_client import HealthReading, StageClient

# A health check that takes longer than this is a GPU endpoint that cannot serve now.
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class GpuTrouble:
    """Why the GPU endpoint cannot serve now."""

    reason: RouteReason
    detail: str


class GpuAvailability:
    def __init__(
        self,
        endpoint: StageClient,
        max_queue_s: float,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._endpoint = endpoint
        self._max_queue_s = max_queue_s
        self._interval_s = interval_s
        self._clock = clock
        self._reading: GpuTrouble | None = None
        self._read_at: float | None = None
        # When a queue with no ready worker was first seen, while it lasts.
        self._backlog_since: float | None = None
        self._probe: asyncio.Future | None = None

    async def trouble(self) -> GpuTrouble | None:
        """Why the GPU endpoint cannot serve now, or None when it can (as far as is known)."""
        if self._read_at is not None and self._clock() - self._read_at < self._interval_s:
            return self._reading
        # One probe at a time, shared by every request that asks meanwhile; shielded, so a
        # request that goes away does not cancel it for the others.
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._probe)

    def unreachable(self, detail: str) -> None:
        """A job just failed to reach the GPU endpoint: that outweighs the last reading."""
        self._reading = GpuTrouble(RouteReason.GPU_UNREACHABLE, detail)
        self._read_at = self._clock()

    async def _read(self) -> GpuTrouble | None:
        reading = await self._probe_endpoint()
        self._reading, self._read_at = reading, self._clock()
        return reading

    async def _probe_endpoint(self) -> GpuTrouble | None:
        reading = await self._endpoint.health(PROBE_TIMEOUT_S)
        if reading.status_code is None:
            return GpuTrouble(
                RouteReason.GPU_UNREACHABLE, "the GPU endpoint did not answer its health check"
            )
        code = reading.status_code
        if code >= 500 or (reading.hosted and code != 200):
            return GpuTrouble(
                RouteReason.GPU_UNREACHABLE, f"the GPU endpoint's health check answered HTTP {code}"
            )
        if not reading.hosted:
            return None  # a local API server answered (404: it has no /health route)
        if not reading.is_json:
            return None  # cannot tell: let the job try
        return self._backlog(reading)

    def _backlog(self, health: HealthReading) -> GpuTrouble | None:
        workers, jobs = health.counts("workers"), health.counts("jobs")
        serving = sum(_count(workers, key) for key in ("idle", "ready", "running"))
        queued = _count(jobs, "inQueue")
        if serving > 0 or queued == 0:
            self._backlog_since = None
            return None
        now = self._clock()
        if self._backlog_since is None:
            self._backlog_since = now
        lasted = now - self._backlog_since
        if lasted < self._max_queue_s:
            return None
        return GpuTrouble(
            RouteReason.GPU_BACKLOG,
            f"the GPU endpoint has {queued} jobs queued and no ready worker"
            f" (seen for {lasted:.0f} s; SMART_GPU_MAX_QUEUE_S={self._max_queue_s:g})",
        )


def _count(counts: Any, key: str) -> int:
    value = counts.get(key) if isinstance(counts, dict) else None
    return value if isinstance(value, int) and value > 0 else 0
