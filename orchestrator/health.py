"""Whether a stage's endpoint answers: the hosted API's /health, or any answer locally."""

from typing import Any

import httpx

from orchestrator.runpod_client import StageEndpoint

_HEALTH_TIMEOUT_S = 5.0


async def stage_health(endpoint: StageEndpoint) -> dict[str, Any]:
    try:
        response = await endpoint.get("/health", timeout_s=_HEALTH_TIMEOUT_S)
    except httpx.HTTPError:
        return {"status": "unreachable", "endpoint": endpoint.base_url}
    if response.status_code == 200:
        body = response.json()
        return {"status": "ok", "workers": body.get("workers"), "jobs": body.get("jobs")}
    if response.status_code == 404:
        # Runpod's local API server has no /health route: that it answered is enough.
        return {"status": "ok", "detail": "reachable (local API server, no /health route)"}
    return {"status": "error", "detail": f"HTTP {response.status_code}"}
