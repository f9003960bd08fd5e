"""Whether a stage's endpoint answers: the hosted API's /health, or any answer locally.

/health is unauthenticated, so it names stages, never endpoint URLs or ids.
"""

from typing import Any

import httpx

from orchestrator.runpod_client import StageEndpoint

_HEALTH_TIMEOUT_S = 5.0


async def stage_health(endpoint: StageEndpoint) -> dict[str, Any]:
    try:
        response = await endpoint.get("/health", timeout_s=_HEALTH_TIMEOUT_S)
    except httpx.HTTPError:
        return {"status": "unreachable"}
    code = response.status_code
    if code == 200 and endpoint.hosted:
        try:
            body = response.json()
        except ValueError:
            return {"status": "error", "detail": "the endpoint's /health is not JSON"}
        return {"status": "ok", "workers": body.get("workers"), "jobs": body.get("jobs")}
    if code == 404 and endpoint.hosted:
        return {"status": "no such endpoint", "detail": "check its *_ENDPOINT setting"}
    if code in (401, 403):
        return {"status": "error", "detail": f"the API key was refused (HTTP {code})"}
    if not endpoint.hosted and code < 500:
        # Runpod's local API server has no /health route: that it answered is enough.
        return {"status": "ok", "detail": "reachable (local API server, no /health route)"}
    return {"status": "error", "detail": f"HTTP {code}"}
