"""Runpod's GraphQL API, called the way Runpod's own deploy tooling calls it.

POST {"query", "variables"} to https://api.runpod.io/graphql with `Authorization: Bearer`
(runpod/flash, runpodctl): the key travels in a header, never in a URL that could be
logged. Operations: `myself { endpoints podTemplates }` to find what exists, `saveTemplate`
and `saveEndpoint` (with `id` to update), `deleteEndpoint(id)` and
`deleteTemplate(templateName)`. Runpod's REST API is not used: an open report
(runpod/runpod-python#545) shows `POST /v1/endpoints` with `computeType: "CPU"` creating GPU
endpoints, while `saveEndpoint` with `instanceIds` is how Runpod's tools make CPU ones.

Transient failures (network, 429, 5xx, "try again later") are retried with backoff for
reads and for writes that are safe to repeat; a create is retried by the caller, which
first looks whether the lost attempt landed (deploy/apply.py).
"""

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

DEFAULT_API_BASE = "https://api.runpod.io"
DEFAULT_ENDPOINT_BASE = "https://api.runpod.ai/v2"
_TRANSIENT_MESSAGES = (
    "try again later",
    "internal server error",
    "service unavailable",
    "too many requests",
    "temporarily unavailable",
)
_MAX_MESSAGE_CHARS = 500

TEMPLATE_FIELDS = """
    id name imageName dockerArgs containerDiskInGb volumeInGb ports isServerless
    containerRegistryAuthId readme env { key value }
"""
ENDPOINT_FIELDS = """
    id name templateId type gpuIds gpuCount allowedCudaVersions minCudaVersion instanceIds
    workersMin workersMax idleTimeout scalerType scalerValue executionTimeoutMs flashBootType
    networkVolumeId locations
"""
# Each field read back is one saveEndpoint takes: an endpoint can be saved as it was read.
ENDPOINT_INPUT_FIELDS = tuple(ENDPOINT_FIELDS.split())
ACCOUNT_QUERY = f"""
query deployAccount {{
  myself {{
    endpoints {{ {ENDPOINT_FIELDS} }}
    podTemplates {{ {TEMPLATE_FIELDS} }}
  }}
}}
"""
SAVE_TEMPLATE = f"""
mutation saveTemplate($input: SaveTemplateInput) {{
  saveTemplate(input: $input) {{ {TEMPLATE_FIELDS} }}
}}
"""
SAVE_ENDPOINT = f"""
mutation saveEndpoint($input: EndpointInput!) {{
  saveEndpoint(input: $input) {{ {ENDPOINT_FIELDS} }}
}}
"""
DELETE_ENDPOINT = """
mutation deleteEndpoint($id: String!) {
  deleteEndpoint(id: $id)
}
"""
DELETE_TEMPLATE = """
mutation deleteTemplate($templateName: String!) {
  deleteTemplate(templateName: $templateName)
}
"""


class RunpodApiError(Exception):
    """Runpod answered with an error; the message is safe to show (it never holds the key)."""


class TransientError(RunpodApiError):
    """Worth another try: the network, a rate limit, or a server error."""


class AuthError(RunpodApiError):
    """The API key is missing or refused."""


@dataclass(frozen=True)
class RunpodUrls:
    graphql: str
    # A queue endpoint's API: {endpoint_base}/{endpoint_id}/runsync.
    endpoint_base: str
    # A load-balancing endpoint's own host; "{endpoint_id}" is replaced.
    load_balancer: str

    def queue_url(self, endpoint_id: str) -> str:
        return f"{self.endpoint_base}/{endpoint_id}"

    def load_balancer_url(self, endpoint_id: str) -> str:
        return self.load_balancer.replace("{endpoint_id}", endpoint_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "RunpodUrls":
        """Runpod's defaults, or the overrides Runpod's own tools read (flash, runpod-python)."""
        api_base = (env.get("RUNPOD_API_BASE_URL") or DEFAULT_API_BASE).rstrip("/")
        endpoint_base = (env.get("RUNPOD_ENDPOINT_BASE_URL") or DEFAULT_ENDPOINT_BASE).rstrip("/")
        # https://<id>.api.runpod.ai: the endpoint base's host with the id in front.
        parts = urlsplit(endpoint_base)
        return cls(
            graphql=f"{api_base}/graphql",
            endpoint_base=endpoint_base,
            load_balancer=f"{parts.scheme}://{{endpoint_id}}.{parts.netloc}",
        )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "…"


def _error_messages(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        messages = [
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body["errors"]
        ]
        return _short("; ".join(messages))
    return None


class RunpodApi:
    def __init__(
        self,
        api_key: str,
        urls: RunpodUrls,
        *,
        attempts: int = 4,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 60.0,
    ):
        if not api_key:
            raise AuthError("RUNPOD_API_KEY is empty")
        self.urls = urls
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )

    def __repr__(self) -> str:  # never the key
        return f"RunpodApi({self.urls.graphql})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "RunpodApi":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def backoff(self, attempt: int) -> None:
        self.sleep(min(self.backoff_s * 2**attempt, 15.0))

    def call(self, query: str, variables: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        """One operation; its `data`. With `retry`, transient failures are tried again."""
        tries = self.attempts if retry else 1
        for attempt in range(tries):
            try:
                return self._post(query, variables)
            except TransientError:
                if attempt == tries - 1:
                    raise
                self.backoff(attempt)
        raise AssertionError("unreachable")

    def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        host = urlsplit(self.urls.graphql).netloc
        try:
            response = self._client.post(
                self.urls.graphql, json={"query": query, "variables": variables}
            )
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {host} ({type(exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        message = _error_messages(body)
        status = response.status_code
        if status in (401, 403):
            raise AuthError(
                f"Runpod refused RUNPOD_API_KEY (HTTP {status}): check that the key exists "
                "and has read/write access"
            )
        if status == 429 or status >= 500:
            raise TransientError(
                f"Runpod answered HTTP {status}" + (f": {message}" if message else "")
            )
        if status >= 400 or message is not None:
            text = message or f"HTTP {status}"
            if any(p in text.lower() for p in _TRANSIENT_MESSAGES):
                raise TransientError(text)
            if "unauthorized" in text.lower() or "api key" in text.lower():
                raise AuthError(f"Runpod refused RUNPOD_API_KEY: {text}")
            raise RunpodApiError(text)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise RunpodApiError(f"unexpected answer from {host} (HTTP {status})")
        return body["data"]

    # -- the operations -------------------------------------------------------------------

    def account(self) -> "Account":
        data = self.call(ACCOUNT_QUERY, {}, retry=True)
        myself = data.get("myself") or {}
        return Account(
            templates=list(myself.get("podTemplates") or []),
            endpoints=list(myself.get("endpoints") or []),
        )

    def save_template(self, template: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        return self.call(SAVE_TEMPLATE, {"input": template}, retry=retry)["saveTemplate"]

    def save_endpoint(self, endpoint: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        return self.call(SAVE_ENDPOINT, {"input": endpoint}, retry=retry)["saveEndpoint"]

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.call(DELETE_ENDPOINT, {"id": endpoint_id}, retry=True)

    def delete_template(self, name: str) -> None:
        self.call(DELETE_TEMPLATE, {"templateName": name}, retry=True)


@dataclass
class Account:
    """What the account holds, as the API lists it: templates and endpoints, raw."""

    templates: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]

    def put(self, kind: str, record: dict[str, Any]) -> None:
        """Keep the snapshot in step with a save: replace the record with its id, or add it."""
        records = self.templates if kind == "template" else self.endpoints
        records[:] = [r for r in records if r.get("id") != record.get("id")] + [record]

    def drop(self, kind: str, record_id: str) -> None:
        records = self.templates if kind == "template" else self.endpoints
        records[:] = [r for r in records if r.get("id") != record_id]
