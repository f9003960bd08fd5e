"""Whether a stage's endpoint answers: the hosted API's /health, or any answer locally.

/health is unauthenticated, so it names stages, never endpoint URLs or ids.
"""

from typing import Any

from orchestrator.stage_client import StageClient

_HEALTH_TIMEOUT_S = 5.0


async def stage_health(endpoint: StageClient) -> dict[str, Any]:
    reading = await endpoint.health(_HEALTH_TIMEOUT_S)
    if reading.status_code is None:
        return {"status": "unreachable"}
    code = reading.status_code
    if code == 200 and reading.hosted:
        if not reading.is_json:
            return {"status": "error", "detail": "the endpoint's /health is not JSON"}
        body = reading.body if isinstance(reading.body, dict) else {}
        return {"status": "ok", "workers": body.get("workers"), "jobs": body.get("jobs")}
    if code == 404 and reading.hosted:
        return {"status": "no such endpoint", "detail": "check its *_ENDPOINT setting"}
    if code in (401, 403):
        return {"status": "error", "detail": f"the API key was refused (HTTP {code})"}
    if not reading.hosted and code < 500:
        # Runpod's local API server has no /health route: that it answered is enough.
        return {"status": "ok", "detail": "reachable (local API server, no /health route)"}
    return {"status": "error", "detail": f"HTTP {code}"}
