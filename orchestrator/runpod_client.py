"""Run one job on one Runpod endpoint over its HTTP API, hosted or local.

POST {base}/runsync; if the job is not final when that returns, poll its status until it
is or the stage's timeout passes, then cancel it. Runpod's local API server differs from
the hosted API (status is POST there, GET hosted; no timings; no cancel): both work.
"""

import asyncio
import json
import logging
import re
import time
from typing import Any

import httpx

from contracts import ErrorType, FieldError, Limits, Stage, StageTiming, WorkerError

log = logging.getLogger(__name__)

FINAL_STATUSES = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
# The hosted /runsync holds the request at most this long (its `wait` parameter, in ms).
_MAX_RUNSYNC_WAIT_MS = 300_000
_MIN_RUNSYNC_WAIT_MS = 1_000
# Added to a request's timeout so the server's own wait ends before ours.
_GRACE_S = 5.0
_RETRIES = 3


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


def failed_job_error(stage: Stage, error: Any) -> StageError:
    """The error for a FAILED job: typed when the worker said what kind of failure it was."""
    typed = WorkerError.from_wire(error)
    if typed is None:
        return StageFailedError(stage, worker_message(error))
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
    ):
        self.stage = stage
        self.base_url = base_url
        self._client = client
        self._timeout_s = timeout_s
        self._poll_interval_s = poll_interval_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Flipped on the first 405: Runpod's local API server only accepts POST there.
        self._status_method = "GET"

    async def get(self, path: str, timeout_s: float) -> httpx.Response:
        """A plain GET on the endpoint (health checks), with the API key."""
        return await self._client.get(
            f"{self.base_url}{path}", headers=self._headers, timeout=timeout_s
        )

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        """Run one job to its end; return its output and how long each part took."""
        started = time.perf_counter()
        try:
            body = await self._run_to_end(job_input)
        except StageError as exc:
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

    async def _run_to_end(self, job_input: dict[str, Any]) -> dict[str, Any]:
        """POST /runsync, then poll until the job is final; cancel it past the deadline."""
        deadline = time.monotonic() + self._timeout_s
        wait_ms = min(max(int(self._timeout_s * 1000), _MIN_RUNSYNC_WAIT_MS), _MAX_RUNSYNC_WAIT_MS)
        body = await self._request(
            "POST", f"/runsync?wait={wait_ms}", deadline, json={"input": job_input}
        )
        job_id = body.get("id")
        try:
            while body.get("status") not in FINAL_STATUSES:
                if not job_id:
                    raise StageUnavailableError(
                        self.stage, "the endpoint answered without a job id"
                    )
                if time.monotonic() >= deadline:
                    raise self._no_result_in_time()
                await asyncio.sleep(min(self._poll_interval_s, max(deadline - time.monotonic(), 0)))
                body = await self._status(job_id, deadline)
        except StageTimeoutError as exc:
            # A job left in the queue would still run, and bill, after nobody waits for it.
            exc.job_id = job_id
            await self._cancel(job_id)
            raise
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
            return await self._request(self._status_method, path, deadline, idempotent=True)
        except _MethodNotAllowedError:
            self._status_method = "POST"
            return await self._request("POST", path, deadline, idempotent=True)

    async def _cancel(self, job_id: str) -> None:
        log.warning("%s: cancelling job %s after the stage timeout", self.stage.value, job_id)
        try:
            await self._client.post(
                f"{self.base_url}/cancel/{job_id}", headers=self._headers, timeout=_GRACE_S
            )
        except httpx.HTTPError:
            log.warning("%s: could not cancel job %s", self.stage.value, job_id)

    async def _request(
        self, method: str, path: str, deadline: float, json: Any = None, idempotent: bool = False
    ) -> dict[str, Any]:
        """One API call. Retries what was certainly not accepted (a refused connection, 429)
        and, for idempotent calls such as status polls, any passing fault."""
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
                    timeout=httpx.Timeout(remaining + _GRACE_S, connect=min(remaining, 10.0)),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if may_retry:
                    delay = await _backoff(delay, deadline)
                    continue
                raise StageUnavailableError(
                    self.stage, f"cannot reach the endpoint at {self.base_url}"
                ) from None
            except httpx.TimeoutException:
                raise self._no_result_in_time() from None
            except httpx.HTTPError as exc:
                if idempotent and may_retry:
                    delay = await _backoff(delay, deadline)
                    continue
                raise StageUnavailableError(
                    self.stage, f"the connection to {self.base_url} broke ({type(exc).__name__})"
                ) from None
            code = response.status_code
            if may_retry and (code == 429 or (idempotent and code >= 500)):
                delay = await _backoff(_retry_after(response, delay), deadline)
                continue
            return self._json(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        code = response.status_code
        if code == 405:
            raise _MethodNotAllowedError()
        if code in (401, 403):
            raise StageUnavailableError(
                self.stage, f"the endpoint refused the API key (HTTP {code}): check RUNPOD_API_KEY"
            )
        if code == 404:
            raise StageUnavailableError(
                self.stage,
                f"no such endpoint (HTTP 404 from {self.base_url}): check "
                f"{self.stage.value.upper()}_ENDPOINT",
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


class _MethodNotAllowedError(Exception):
    pass


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
