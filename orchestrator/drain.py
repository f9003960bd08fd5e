"""Graceful drain: what the orchestrator does between SIGTERM and its exit.

Runpod scales a load-balancing endpoint down by stopping a worker's container: SIGTERM, then
SIGKILL once its stop timeout passes. Its load balancer routes only to workers whose health
path (/ping) answers 200 (204 while initializing); any other answer takes the worker out of
the pool. So on SIGTERM:
1. admission stops: new pipeline requests get 503 in the one error shape, with Retry-After,
   and /ping answers 503, so the load balancer sends the rest elsewhere; the port stays
   open, so nobody gets a refused connection;
2. requests in flight have DRAIN_GRACE_S to finish;
3. what is still running then is cancelled: each answers 503 and its stage jobs are
   cancelled, as for a client that went away;
4. the server exits (uvicorn's own shutdown, then the lifespan sends the last /cancel calls).
A second SIGTERM, or SIGINT (Ctrl-C), stops at once, as uvicorn does.
"""

import asyncio
import logging
import signal
from types import FrameType

import uvicorn

from orchestrator.admission import Admission

log = logging.getLogger("orchestrator")

# After the grace period, how long cancelled requests get to answer and send their /cancel.
_CANCEL_WAIT_S = 2.0


async def drain(admission: Admission, grace_s: float) -> None:
    admission.stop_admitting()
    log.info(
        "SIGTERM: draining; %d request(s) in flight get up to %g s",
        admission.in_flight,
        grace_s,
    )
    if await admission.wait_idle(grace_s):
        log.info("drained: every request in flight was answered")
        return
    cancelled = admission.cancel_in_flight()
    log.warning("grace period over: %d request(s) cancelled with their jobs", cancelled)
    await admission.wait_idle(_CANCEL_WAIT_S)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM draining first (the module's steps)."""

    def __init__(self, config: uvicorn.Config, admission: Admission, grace_s: float):
        super().__init__(config)
        self._admission = admission
        self._grace_s = grace_s
        self._drain: asyncio.Task | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._drain is not None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().handle_exit(sig, frame)
            return
        # The handler may run in the middle of the loop's own code: schedule, do not start.
        loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._drain is None:
            self._drain = asyncio.ensure_future(drain(self._admission, self._grace_s))
            self._drain.add_done_callback(self._drained)

    def _drained(self, _: asyncio.Task) -> None:
        self.should_exit = True
