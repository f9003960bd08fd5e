"""Run one job on one Runpod endpoint over its HTTP API, hosted or local.

POST {base}/runsync; if the job is not final when that returns, poll its status until it
is or the stage's timeout passes. Runpod's local API server differs from the hosted API
(status is POST there, GET hosted; no timings; no cancel): both work.

Every job ends: a job whose answer nobody will read (the stage timed out, a sibling in the
batch failed, the client went away) is cancelled, and the stage answers within its timeout
plus half a second even when the connection stalls. Jobs sent to the hosted API carry
Runpod's execution policy, so an orchestrator that dies cannot leave them running.
"""

import asyncio
import json
import logging
import re
import time
from typing import Any

import httpx

from contracts import ErrorType, FieldError, Limits, Stage, StageTiming, WorkerError
from orchestrator.job_ttl import DEFAULT_JOB_TTL_S, job_gone_message

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
_RETRIES = 3
# A connection pool this long without a free connection means the orchestrator is overloaded.
_POOL_WAIT_S = 5.0
_CANCEL_TIMEOUT_S = 5.0


class StageError(Exception):
    status_code = 502
    error_type = ErrorType.STAGE_FAILED

    def __init__(self, stage: Stage, message: str):
        super().__init__(f"{stage.value} stage: {message}")
        self.stage = stage
        self.message = f"{stage.value} stage: {message}"
        # Filled on the way up: the failing stage's round trip, then the stages before it.
        self.timings: dict[str, StageTiming] = {}
        # Runpod's id of the job, when there was one: for the logs, to find it in the console.
        self.job_id: str | None = None
        self.details: list[FieldError] = []
        self.headers: dict[str, str] = {}


class StageFailedError(StageError):
    """The job ended FAILED or CANCELLED, or its output broke the contract."""

    def __init__(self, stage: Stage, message: str, error_type: ErrorType = ErrorType.STAGE_FAILED):
        super().__init__(stage, message)
        self.error_type = error_type


class StageRejectedInputError(StageError):
    """The worker found the caller's input wrong (a duplicate label, a foreign tokenizer):
    the caller's mistake, answered 422 like the orchestrator's own validation."""

    status_code = 422
    error_type = ErrorType.INVALID_INPUT

    def __init__(self, stage: Stage, message: str, details: list[FieldError]):
        super().__init__(stage, message)
        # The worker's own words: the caller should not have to know which stage spoke.
        self.message = message
        self.details = details


class StageTimeoutError(StageError):
    status_code = 504
    error_type = ErrorType.STAGE_TIMEOUT


class StageUnavailableError(StageError):
    status_code = 503
    error_type = ErrorType.STAGE_UNAVAILABLE


class StageOverloadedError(StageError):
    """No connection to the endpoint came free in time: too much in flight, not a slow stage."""

    status_code = 429
    error_type = ErrorType.OVERLOADED

    def __init__(self, stage: Stage, message: str):
        super().__init__(stage, message)
        self.headers = {"Retry-After": "1"}


def failed_job_error(stage: Stage, error: Any) -> StageError:
    """The error for a FAILED job: typed when the worker said what kind of failure it was."""
    typed = WorkerError.from_wire(error)
    if typed is None:
        return StageFailedError(stage, worker_message(error))
    return typed_stage_error(stage, typed)


def typed_stage_error(stage: Stage, typed: WorkerError) -> StageError:
    """A worker's typed error as the orchestrator answers it: the caller's mistake is 422,
    the rest 502. For a whole job's failure, or one item's in a batch job."""
    message = typed.error[: Limits.MAX_ERROR_CHARS]
    if typed.error_type is ErrorType.INVALID_INPUT:
        return StageRejectedInputError(stage, message, typed.details)
    return StageFailedError(stage, message, typed.error_type)


def worker_message(error: Any) -> str:
    """The worker's own message, or a neutral one when the SDK wrapped a raised exception."""
    text = error if isinstance(error, str) else json.dumps(error)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and ("error_traceback" in parsed or "error_type" in parsed):
        # The SDK's shape for an exception the handler did not catch: type, message,
        # traceback, hostname. Only the exception's class name is safe to pass on.
        match = re.search(r"'([\w.]+)'", str(parsed.get("error_type", "")))
        name = match.group(1).rsplit(".", 1)[-1] if match else "an exception"
        return f"the worker raised {name}"
    if "Traceback (most recent call last)" in text:
        return "the worker failed (details are in its logs)"
    return text[: Limits.MAX_ERROR_CHARS]


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
        pool_wait_s: float = _POOL_WAIT_S,
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
        self._client = client
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._poll_interval_s = poll_interval_s
        self._pool_wait_s = pool_wait_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Flipped on the first 405: Runpod's local API server only accepts POST there.
        self._status_method = "GET"
        # Named in messages instead of the URL, which holds a hosted endpoint's id.
        self._variable = variable or f"{stage.value.upper()}_ENDPOINT"
        # Cancellations still on their way; kept so they are not garbage-collected mid-flight
        # and so shutdown can wait for them.
        self._cancelling: set[asyncio.Task] = set()

    async def get(self, path: str, timeout_s: float) -> httpx.Response:
        """A plain GET on the endpoint (health checks), with the API key."""
        return await self._client.get(
            f"{self.base_url}{path}", headers=self._headers, timeout=timeout_s
        )

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        """Run one job to its end; return its output and how long each part took."""
        started = time.perf_counter()
        job = _Job()
        try:
            async with asyncio.timeout(self._timeout_s + HARD_DEADLINE_GRACE_S):
                body = await self._run_to_end(job_input, job)
        except TimeoutError:
            # The connection stalled past every deadline of our own.
            exc = self._no_result_in_time()
            exc.job_id = job.id
            self._cancel_later(job, "the stage timed out")
            exc.timings[self.stage.value] = StageTiming(round_trip_ms=_ms_since(started))
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
            exc.timings[self.stage.value] = StageTiming(round_trip_ms=_ms_since(started))
            raise
        timing = StageTiming(
            round_trip_ms=_ms_since(started),
            queue_ms=body.get("delayTime"),
            execution_ms=body.get("executionTime"),
        )
        try:
            return self._output(body), timing
        except StageError as exc:
            exc.timings[self.stage.value] = timing
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
            self._request("POST", f"/runsync?wait={wait_ms}", deadline, json=payload)
        )
        body = await asyncio.shield(job.submission)
        job.id = body.get("id")
        while body.get("status") not in FINAL_STATUSES:
            if not job.id:
                raise StageUnavailableError(self.stage, "the endpoint answered without a job id")
            if time.monotonic() >= deadline:
                raise self._no_result_in_time()
            await asyncio.sleep(min(self._poll_interval_s, max(deadline - time.monotonic(), 0)))
            body = await self._status(job.id, deadline)
        job.final = True
        return body

    def _no_result_in_time(self) -> "StageTimeoutError":
        return StageTimeoutError(self.stage, f"no result within {self._timeout_s:g} s")

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
        try:
            return await self._request(
                self._status_method, path, deadline, idempotent=True, job_id=job_id
            )
        except _MethodNotAllowedError:
            self._status_method = "POST"
            return await self._request("POST", path, deadline, idempotent=True, job_id=job_id)

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
        delay = 0.2
        for attempt in range(1, _RETRIES + 2):
            try:
                response = await self._client.post(
                    f"{self.base_url}/cancel/{job_id}",
                    headers=self._headers,
                    timeout=_CANCEL_TIMEOUT_S,
                )
            except httpx.HTTPError as exc:
                if attempt <= _RETRIES:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                log.warning(
                    "%s: could not cancel job %s (%s)", self.name, job_id, type(exc).__name__
                )
                return
            if attempt <= _RETRIES and (response.status_code == 429 or response.status_code >= 500):
                await asyncio.sleep(delay)
                delay *= 2
                continue
            break
        status = _json_field(response, "status")
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

    async def _request(
        self,
        method: str,
        path: str,
        deadline: float,
        json: Any = None,
        idempotent: bool = False,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """One API call. Retries what was certainly not accepted (a refused connection, 429)
        and, for idempotent calls such as status polls, any passing fault. `job_id`: the
        accepted job the call asks about, whose 404 means the job is gone."""
        delay = 0.2
        for attempt in range(1, _RETRIES + 2):
            may_retry = attempt <= _RETRIES
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._no_result_in_time()
            try:
                response = await self._client.request(
                    method,
                    f"{self.base_url}{path}",
                    json=json,
                    headers=self._headers,
                    timeout=httpx.Timeout(
                        # A quarter second past the server's own wait: its answer comes first.
                        remaining + 0.25,
                        connect=min(remaining, 10.0),
                        pool=min(remaining, self._pool_wait_s),
                    ),
                )
            except httpx.PoolTimeout:
                if time.monotonic() >= deadline:
                    raise self._no_result_in_time() from None
                raise StageOverloadedError(
                    self.stage, "too many requests in flight to this endpoint; retry shortly"
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if may_retry:
                    delay = await _backoff(delay, deadline)
                    continue
                raise StageUnavailableError(
                    self.stage, f"cannot reach the endpoint set by {self._variable}"
                ) from None
            except httpx.TimeoutException:
                raise self._no_result_in_time() from None
            except httpx.HTTPError as exc:
                if idempotent and may_retry:
                    delay = await _backoff(delay, deadline)
                    continue
                raise StageUnavailableError(
                    self.stage, f"the connection to the endpoint broke ({type(exc).__name__})"
                ) from None
            code = response.status_code
            if may_retry and (code == 429 or (idempotent and code >= 500)):
                delay = await _backoff(_retry_after(response, delay), deadline)
                continue
            return self._json(response, job_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response, job_id: str | None = None) -> dict[str, Any]:
        code = response.status_code
        if code == 405:
            raise _MethodNotAllowedError()
        if code in (401, 403):
            raise StageUnavailableError(
                self.stage, f"the endpoint refused the API key (HTTP {code}): check RUNPOD_API_KEY"
            )
        if code == 404 and job_id is not None:
            raise StageUnavailableError(self.stage, job_gone_message(job_id, self._ttl_s))
        if code == 404:
            raise StageUnavailableError(
                self.stage,
                f"no such endpoint (HTTP 404): check {self._variable}",
            )
        if code == 429:
            raise StageUnavailableError(self.stage, "the endpoint is rate limiting (HTTP 429)")
        if code >= 500:
            raise StageUnavailableError(self.stage, f"the endpoint answered HTTP {code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if code >= 400 or not isinstance(body, dict):
            raise StageFailedError(self.stage, f"unexpected answer from the endpoint (HTTP {code})")
        return body


class _Job:
    """What is known of one submitted job, for cancelling it."""

    __slots__ = ("cancel_requested", "final", "id", "submission")

    def __init__(self) -> None:
        self.id: str | None = None
        self.submission: asyncio.Future | None = None
        self.final = False
        self.cancel_requested = False


class _MethodNotAllowedError(Exception):
    pass


def _json_field(response: httpx.Response, key: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(key) if isinstance(body, dict) else None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def _backoff(delay: float, deadline: float) -> float:
    """Sleep `delay` (never past the deadline) and return the next, doubled, delay."""
    await asyncio.sleep(max(min(delay, deadline - time.monotonic()), 0))
    return delay * 2


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), 10.0)
    except ValueError:
        return default
