"""HTTP to one Runpod endpoint: the API key, retries, backoff and deadlines.

What is retried: what was certainly not accepted (a refused connection, HTTP 429) and, for
idempotent calls such as status polls, any passing fault. Every call ends by its deadline.
What the calls mean (a job's run, poll, cancel; /health) is runpod_client.py's.
"""

import asyncio
import time
from typing import Any

import httpx

from contracts import Stage
from orchestrator.errors import (
    StageFailedError,
    StageOverloadedError,
    StageTimeoutError,
    StageUnavailableError,
)

RETRIES = 3
# A connection pool this long without a free connection means the orchestrator is overloaded.
POOL_WAIT_S = 5.0


class MethodNotAllowedError(Exception):
    """HTTP 405: Runpod's local API server takes POST where the hosted API takes GET."""


class RunpodTransport:
    """Calls to one endpoint's base URL, sharing the orchestrator's connection pool."""

    def __init__(
        self,
        stage: Stage,
        base_url: str,
        client: httpx.AsyncClient,
        timeout_s: float,
        api_key: str | None = None,
        pool_wait_s: float = POOL_WAIT_S,
        variable: str | None = None,
    ):
        self.stage = stage
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client = client
        self._pool_wait_s = pool_wait_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Named in messages instead of the URL, which holds a hosted endpoint's id.
        self.variable = variable or f"{stage.value.upper()}_ENDPOINT"

    def no_result_in_time(self) -> StageTimeoutError:
        return StageTimeoutError(self.stage, f"no result within {self.timeout_s:g} s")

    async def get(self, path: str, timeout_s: float) -> httpx.Response:
        """A plain GET, with the API key: no retries (health checks)."""
        return await self._client.get(
            f"{self.base_url}{path}", headers=self._headers, timeout=timeout_s
        )

    async def post_retrying(self, path: str, timeout_s: float) -> httpx.Response:
        """POST without a body, retried while it certainly did not land (cancel). Raises
        httpx.HTTPError when every try failed to connect."""
        delay = 0.2
        for attempt in range(1, RETRIES + 2):
            try:
                response = await self._client.post(
                    f"{self.base_url}{path}", headers=self._headers, timeout=timeout_s
                )
            except httpx.HTTPError:
                if attempt > RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if attempt <= RETRIES and (response.status_code == 429 or response.status_code >= 500):
                await asyncio.sleep(delay)
                delay *= 2
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        path: str,
        deadline: float,
        json: Any = None,
        idempotent: bool = False,
        gone: str | None = None,
    ) -> dict[str, Any]:
        """One API call, answered by its JSON object, retried as the module says. `gone`: what
        a 404 means when the call asks about an accepted job (the endpoint exists)."""
        delay = 0.2
        for attempt in range(1, RETRIES + 2):
            may_retry = attempt <= RETRIES
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.no_result_in_time()
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
                    raise self.no_result_in_time() from None
                raise StageOverloadedError(
                    self.stage, "too many requests in flight to this endpoint; retry shortly"
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if may_retry:
                    delay = await _backoff(delay, deadline)
                    continue
                raise StageUnavailableError(
                    self.stage, f"cannot reach the endpoint set by {self.variable}"
                ) from None
            except httpx.TimeoutException:
                raise self.no_result_in_time() from None
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
            return self._json(response, gone)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response, gone: str | None = None) -> dict[str, Any]:
        code = response.status_code
        if code == 405:
            raise MethodNotAllowedError()
        if code in (401, 403):
            raise StageUnavailableError(
                self.stage, f"the endpoint refused the API key (HTTP {code}): check RUNPOD_API_KEY"
            )
        if code == 404 and gone is not None:
            raise StageUnavailableError(self.stage, gone)
        if code == 404:
            raise StageUnavailableError(
                self.stage,
                f"no such endpoint (HTTP 404): check {self.variable}",
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


def json_field(response: httpx.Response, key: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(key) if isinstance(body, dict) else None


async def _backoff(delay: float, deadline: float) -> float:
    """Sleep `delay` (never past the deadline) and return the next, doubled, delay."""
    await asyncio.sleep(max(min(delay, deadline - time.monotonic()), 0))
    return delay * 2


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), 10.0)
    except ValueError:
        return default
