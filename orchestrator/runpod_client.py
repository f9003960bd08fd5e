"""Runpod's job semantics for one endpoint, hosted or local: run, poll, cancel, health.

POST {base}/runsync; if the job is not final when that returns, poll its status until it
is or the stage's timeout passes. Runpod's local API server differs from the hosted API
(status is POST there, GET hosted; no timings; no cancel; no /health): both work. The HTTP
underneath (the key, retries, deadlines) is transport.py's.

Every job ends: a job whose answer nobody will read (the stage timed out, a sibling in the
batch failed, the client went away) is cancelled, and the stage answers within its timeout
plus half a second even when the connection stalls. Jobs sent to the hosted API carry
Runpod's execution policy, so an orchestrator that dies cannot leave them running.
"""

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

import httpx

from contracts import Stage, StageTiming
from orchestrator.errors import (
    StageError,
    StageFailedError,
    StageTimeoutError,
    StageUnavailableError,
    failed_job_error,
)
from orchestrator.job_ttl import DEFAULT_JOB_TTL_S, job_gone_message
from orchestrator.stage_client import HealthReading
from orchestrator.transport import POOL_WAIT_S, MethodNotAllowedError, RunpodTransport, json_field

log = logging.getLogger(__name__)

FINAL_STATUSES = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
# The hosted /runsync holds the request at most this long (its `wait` parameter, in ms).
_MAX_RUNSYNC_WAIT_MS = 300_000
_MIN_RUNSYNC_WAIT_MS = 1_000
# How far past its timeout a stage may answer, whatever the connection does.
HARD_DEADLINE_GRACE_S = 0.5
# Runpod's bounds on a job's policy: executionTimeout above 5 s, ttl at least 10 s.
_MIN_EXECUTION_TIMEOUT_MS = 5_000
_MIN_TTL_MS = 10_000
_CANCEL_TIMEOUT_S = 5.0


class StageEndpoint:
    """One stage's Runpod endpoint, sharing the orchestrator's connection pool."""

    def __init__(
        self,
        stage: Stage,
        base_url: str,
        client: httpx.AsyncClient,
        timeout_s: float,
        poll_interval_s: float = 0.5,
        api_key: str | None = None,
        hosted: bool = False,
        pool_wait_s: float = POOL_WAIT_S,
        name: str | None = None,
        variable: str | None = None,
        ttl_s: float = DEFAULT_JOB_TTL_S,
    ):
        self.stage = stage
        # The stage can have two endpoints (inference on GPU and on CPU): metrics and logs
        # tell them apart by name.
        self.name = name or stage.value
        self.base_url = base_url
        # The hosted API (or a stand-in for it): it has /health and /cancel, takes a policy.
        self.hosted = hosted
        self._http = RunpodTransport(
            stage, base_url, client, timeout_s, api_key, pool_wait_s, variable
        )
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._poll_interval_s = poll_interval_s
        # Flipped on the first 405: Runpod's local API server only accepts POST there.
        self._status_method = "GET"
        # Cancellations still on their way; kept so they are not garbage-collected mid-flight
        # and so shutdown can wait for them.
        self._cancelling: set[asyncio.Task] = set()

    async def health(self, timeout_s: float) -> HealthReading:
        """One reading of the endpoint's /health. A URL with no such route (Runpod's local
        API server has none) is also asked for the signs of a Runpod worker."""
        try:
            response = await self._http.get("/health", timeout_s)
            reading = HealthReading.from_response(response, self.hosted)
            if self.hosted or reading.shows_workers:
                return reading
            return await self._worker_signs(reading, timeout_s)
        except httpx.HTTPError:
            return HealthReading(self.hosted)

    async def _worker_signs(self, reading: HealthReading, timeout_s: float) -> HealthReading:
        """Any web server answers; only a worker lists /runsync or takes POST there alone.
        Each sign is asked for only when the one before it is missing."""
        if reading.status_code is not None and reading.status_code not in (404, 405, 200):
            return reading
        document = await self._http.get("/openapi.json", timeout_s)
        paths = json_field(document, "paths") if document.status_code == 200 else None
        if isinstance(paths, dict) and "/runsync" in paths:
            return replace(reading, worker_sign="Runpod local API server")
        runsync = await self._http.get("/runsync", timeout_s)
        if runsync.status_code == 405 and "POST" in runsync.headers.get("allow", ""):
            return replace(reading, worker_sign="answers POST /runsync")
        return replace(reading, probe_codes=(document.status_code, runsync.status_code))

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        """Run one job to its end; return its output and how long each part took."""
        started = time.perf_counter()
        job = _Job()
        try:
            async with asyncio.timeout(self._timeout_s + HARD_DEADLINE_GRACE_S):
                body = await self._run_to_end(job_input, job)
        except TimeoutError:
            # The connection stalled past every deadline of our own.
            exc = self._http.no_result_in_time()
            exc.job_id = job.id
            self._cancel_later(job, "the stage timed out")
            exc.timings[self.stage] = StageTiming(round_trip_ms=_ms_since(started))
            raise exc from None
        except asyncio.CancelledError:
            # Nobody will read this job's answer: a sibling failed or the client went away.
            self._cancel_later(job, "its answer is no longer awaited")
            raise
        except StageError as exc:
            if isinstance(exc, StageTimeoutError):
                # A job left in the queue would still run, and bill, after nobody waits for it.
                exc.job_id = job.id
                self._cancel_later(job, "the stage timed out")
            exc.timings[self.stage] = StageTiming(round_trip_ms=_ms_since(started))
            raise
        timing = StageTiming(
            round_trip_ms=_ms_since(started),
            queue_ms=body.get("delayTime"),
            execution_ms=body.get("executionTime"),
        )
        try:
            return self._output(body), timing
        except StageError as exc:
            exc.timings[self.stage] = timing
            exc.job_id = body.get("id")
            raise

    async def _run_to_end(self, job_input: dict[str, Any], job: "_Job") -> dict[str, Any]:
        """POST /runsync, then poll until the job is final; cancel it past the deadline."""
        deadline = time.monotonic() + self._timeout_s
        timeout_ms = int(self._timeout_s * 1000)
        wait_ms = min(max(timeout_ms, _MIN_RUNSYNC_WAIT_MS), _MAX_RUNSYNC_WAIT_MS)
        payload: dict[str, Any] = {"input": job_input}
        if self.hosted:
            payload["policy"] = {
                # The job may not run longer than anybody waits for it...
                "executionTimeout": max(timeout_ms, _MIN_EXECUTION_TIMEOUT_MS),
                # TTL counts from submission, queue and cold start included: its own
                # setting, never shorter than the stage waits (abandoned jobs are cancelled).
                "ttl": max(int(self._ttl_s * 1000), timeout_ms, _MIN_TTL_MS),
            }
        # Shielded: cancelled while /runsync is in flight, the request still learns the
        # job's id, so the job can be cancelled (see _cancel_later).
        job.submission = asyncio.ensure_future(
            self._http.request("POST", f"/runsync?wait={wait_ms}", deadline, json=payload)
        )
        body = await asyncio.shield(job.submission)
        job.id = body.get("id")
        while body.get("status") not in FINAL_STATUSES:
            if not job.id:
                raise StageUnavailableError(self.stage, "the endpoint answered without a job id")
            if time.monotonic() >= deadline:
                raise self._http.no_result_in_time()
            await asyncio.sleep(min(self._poll_interval_s, max(deadline - time.monotonic(), 0)))
            body = await self._status(job.id, deadline)
        job.final = True
        return body

    def _output(self, body: dict[str, Any]) -> Any:
        status = body["status"]
        if status == "COMPLETED":
            return body.get("output")
        if status == "FAILED":
            raise failed_job_error(self.stage, body.get("error", "job failed"))
        if status == "TIMED_OUT":
            raise StageTimeoutError(self.stage, "the job ran past the endpoint's execution timeout")
        raise StageFailedError(self.stage, "the job was cancelled")

    async def _status(self, job_id: str, deadline: float) -> dict[str, Any]:
        path = f"/status/{job_id}"
        gone = job_gone_message(job_id, self._ttl_s)
        try:
            return await self._http.request(
                self._status_method, path, deadline, idempotent=True, gone=gone
            )
        except MethodNotAllowedError:
            self._status_method = "POST"
            return await self._http.request("POST", path, deadline, idempotent=True, gone=gone)

    def _cancel_later(self, job: "_Job", reason: str) -> None:
        """Cancel the job in the background: the caller's task may itself be cancelled."""
        if job.final or job.cancel_requested:
            return
        job.cancel_requested = True
        if job.id is None:
            if job.submission is None:
                return  # nothing was sent
            # /runsync is still in flight: cancel the job once its answer names it.
            submission = job.submission

            def on_submitted(task: asyncio.Future) -> None:
                if task.cancelled() or task.exception() is not None:
                    return
                body = task.result()
                if body.get("status") not in FINAL_STATUSES and body.get("id"):
                    self._spawn_cancel(body["id"], reason)

            submission.add_done_callback(on_submitted)
            return
        self._spawn_cancel(job.id, reason)

    def _spawn_cancel(self, job_id: str, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._cancel(job_id, reason))
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    async def _cancel(self, job_id: str, reason: str) -> None:
        """POST /cancel/{id}, retried while it certainly did not land; logged as cancelled only
        when Runpod confirms it."""
        try:
            response = await self._http.post_retrying(f"/cancel/{job_id}", _CANCEL_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning("%s: could not cancel job %s (%s)", self.name, job_id, type(exc).__name__)
            return
        status = json_field(response, "status")
        if response.status_code == 200 and status == "CANCELLED":
            log.warning("%s: cancelled job %s: %s", self.name, job_id, reason)
        elif not self.hosted and response.status_code in (404, 405):
            # Runpod's local API server has no /cancel; its jobs run in the request anyway.
            log.debug("%s: no /cancel on a local API server (job %s)", self.name, job_id)
        else:
            log.warning(
                "%s: job %s was not cancelled (HTTP %d, status %s)",
                self.name,
                job_id,
                response.status_code,
                status or "unknown",
            )

    async def drain_cancellations(self, timeout_s: float = _CANCEL_TIMEOUT_S) -> None:
        """Wait for cancellations still under way (at shutdown, before the pool closes)."""
        if self._cancelling:
            await asyncio.wait(set(self._cancelling), timeout=timeout_s)


class _Job:
    """What is known of one submitted job, for cancelling it."""

    __slots__ = ("cancel_requested", "final", "id", "submission")

    def __init__(self) -> None:
        self.id: str | None = None
        self.submission: asyncio.Future | None = None
        self.final = False
        self.cancel_requested = False


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
