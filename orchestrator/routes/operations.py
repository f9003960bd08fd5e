"""The operations routes: liveness for Runpod's load balancer, the stages' health, metrics."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from orchestrator.errors import (
    ERROR_RESPONSES,
    ShuttingDownError,
    answer_error,
    request_id_of,
)
from orchestrator.health import stage_health
from orchestrator.wiring import Services, services

router = APIRouter(tags=["operations"])
Served = Annotated[Services, Depends(services)]


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, stage latencies, jobs, windows, cost, errors",
    response_class=Response,
)
async def prometheus_metrics(served: Served) -> Response:
    return Response(served.metrics.exposition(), media_type=served.metrics.content_type)


@router.get("/ping", summary="Liveness, for Runpod load-balancing endpoints")
async def ping(served: Served, request: Request) -> Response:
    if served.admission.draining:
        # Runpod's load balancer takes anything but 200 and 204 as unhealthy.
        return answer_error(
            ShuttingDownError(), request_id_of(request), getattr(request.state, "started", None)
        )
    return JSONResponse({"status": "healthy"})


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
