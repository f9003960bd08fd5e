"""Whether a stage's endpoint answers as a Runpod endpoint: the hosted API's /health, or,
for an endpoint given as a URL, the signs of a Runpod worker.

A URL counts as reachable only when something there answers like one: the hosted API's
/health (a stand-in or proxy of it), the OpenAPI document of Runpod's local API server
listing /runsync, or a /runsync route that takes POST alone (the reading is
runpod_client.StageEndpoint.health). An address that answers 404 to all of these is no such
endpoint: any web server answers, only a worker answers so.

/health is unauthenticated, so it names stages, never endpoint URLs or ids.
"""

from typing import Any

from orchestrator.stage_client import HealthReading, StageClient

_HEALTH_TIMEOUT_S = 5.0
_CHECK_SETTING = "check its *_ENDPOINT setting"


async def stage_health(endpoint: StageClient) -> dict[str, Any]:
    reading = await endpoint.health(_HEALTH_TIMEOUT_S)
    if reading.status_code is None:
        return {"status": "unreachable"}
    if reading.hosted:
        return _hosted_health(reading)
    return _worker_health(reading)


def _hosted_health(reading: HealthReading) -> dict[str, Any]:
    code = reading.status_code
    if code == 200:
        if not reading.is_json:
            return {"status": "error", "detail": "the endpoint's /health is not JSON"}
        return _ok_with_workers(reading)
    if code == 404:
        return {"status": "no such endpoint", "detail": _CHECK_SETTING}
    return _error(code)


def _worker_health(reading: HealthReading) -> dict[str, Any]:
    if reading.shows_workers:
        return _ok_with_workers(reading)
    if reading.worker_sign:
        return {"status": "ok", "detail": f"reachable ({reading.worker_sign})"}
    if not reading.probe_codes:
        # /health itself answered an error: nothing else was asked.
        return _error(reading.status_code)
    codes = {reading.status_code, *reading.probe_codes}
    if codes == {404}:
        return {
            "status": "no such endpoint",
            "detail": "HTTP 404 to /health, /openapi.json and /runsync: nothing there answers "
            f"like a Runpod worker; {_CHECK_SETTING}",
        }
    if (worst := max(codes)) >= 500 or worst in (401, 403):
        return _error(worst)
    return {"status": "error", "detail": "it answers, but not like a Runpod worker"}


def _ok_with_workers(reading: HealthReading) -> dict[str, Any]:
    body = reading.body if isinstance(reading.body, dict) else {}
    return {"status": "ok", "workers": body.get("workers"), "jobs": body.get("jobs")}


def _error(code: int | None) -> dict[str, Any]:
    if code in (401, 403):
        return {"status": "error", "detail": f"the API key was refused (HTTP {code})"}
    return {"status": "error", "detail": f"HTTP {code}"}
