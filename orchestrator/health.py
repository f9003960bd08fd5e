"""Whether a stage's endpoint answers as a Runpod endpoint: the hosted API's /health, or,
for an endpoint given as a URL, the signs of a Runpod worker.

A URL counts as reachable only when something there answers like one: the hosted API's
/health (a stand-in or proxy of it), the OpenAPI document of Runpod's local API server
listing /runsync, or a /runsync route that takes POST alone. An address that answers 404
to all of these is no such endpoint: any web server answers, only a worker answers so.

/health is unauthenticated, so it names stages, never endpoint URLs or ids.
"""

from typing import Any

import httpx

from orchestrator.runpod_client import StageEndpoint

_HEALTH_TIMEOUT_S = 5.0
_CHECK_SETTING = "check its *_ENDPOINT setting"


async def stage_health(endpoint: StageEndpoint) -> dict[str, Any]:
    try:
        response = await endpoint.get("/health", timeout_s=_HEALTH_TIMEOUT_S)
        if endpoint.hosted:
            return _hosted_health(response)
        return await _worker_health(endpoint, response)
    except httpx.HTTPError:
        return {"status": "unreachable"}


def _hosted_health(response: httpx.Response) -> dict[str, Any]:
    code = response.status_code
    if code == 200:
        body = _json_object(response)
        if body is None:
            return {"status": "error", "detail": "the endpoint's /health is not JSON"}
        return _ok_with_workers(body)
    if code == 404:
        return {"status": "no such endpoint", "detail": _CHECK_SETTING}
    return _error(code)


async def _worker_health(endpoint: StageEndpoint, health: httpx.Response) -> dict[str, Any]:
    """An endpoint given as a URL: Runpod's local API server, or something in the hosted
    API's place. Each sign is asked for only when the one before it is missing."""
    body = _json_object(health) if health.status_code == 200 else None
    if body is not None and "workers" in body:
        return _ok_with_workers(body)
    if health.status_code >= 400 and health.status_code not in (404, 405):
        return _error(health.status_code)
    document = await endpoint.get("/openapi.json", timeout_s=_HEALTH_TIMEOUT_S)
    paths = (_json_object(document) or {}).get("paths") if document.status_code == 200 else None
    if isinstance(paths, dict) and "/runsync" in paths:
        return {"status": "ok", "detail": "reachable (Runpod local API server)"}
    runsync = await endpoint.get("/runsync", timeout_s=_HEALTH_TIMEOUT_S)
    if runsync.status_code == 405 and "POST" in runsync.headers.get("allow", ""):
        return {"status": "ok", "detail": "reachable (answers POST /runsync)"}
    codes = {health.status_code, document.status_code, runsync.status_code}
    if codes == {404}:
        return {
            "status": "no such endpoint",
            "detail": "HTTP 404 to /health, /openapi.json and /runsync: nothing there answers "
            f"like a Runpod worker; {_CHECK_SETTING}",
        }
    if (worst := max(codes)) >= 500 or worst in (401, 403):
        return _error(worst)
    return {"status": "error", "detail": "it answers, but not like a Runpod worker"}


def _ok_with_workers(body: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "workers": body.get("workers"), "jobs": body.get("jobs")}


def _error(code: int) -> dict[str, Any]:
    if code in (401, 403):
        return {"status": "error", "detail": f"the API key was refused (HTTP {code})"}
    return {"status": "error", "detail": f"HTTP {code}"}


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
