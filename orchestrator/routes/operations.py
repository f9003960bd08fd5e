"""The operations routes: liveness for Runpod's load balancer, the stages' health, metrics."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from orchestrator.errors import ERROR_RESPONSES
from orchestrator.health import stage_health
from orchestrator.wiring import Services, services

router = APIRouter()
Served = Annotated[Services, Depends(services)]


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, stage latencies, jobs, windows, cost, errors",
    response_class=Response,
)
async def prometheus_metrics(served: Served) -> Response:
    return Response(served.metrics.exposition(), media_type=served.metrics.content_type)


@router.get("/ping", summary="Liveness, for Runpod load-balancing endpoints")
async def ping() -> dict[str, str]:
    return {"status": "healthy"}


@router.get(
    "/health",
    summary="Whether each stage's endpoint answers, with its workers",
    responses={503: ERROR_RESPONSES[503]},
)
async def health(served: Served) -> JSONResponse:
    endpoints = served.stage_clients
    answers = await asyncio.gather(*(stage_health(ep) for ep in endpoints))
    stages = {ep.name: answer for ep, answer in zip(endpoints, answers, strict=True)}
    healthy = all(s["status"] == "ok" for s in stages.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "stages": stages},
        status_code=200 if healthy else 503,
    )
