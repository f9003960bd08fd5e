"""The pipeline routes: preprocess, inference and postprocess in a row, for one text or many.

The routes are listed in `router` at the end, with their paths and descriptions."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from contracts import (
    ClassifyBatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    ClassifySmartResponse,
    RouteChoice,
)
from orchestrator.edge import batch_texts
from orchestrator.routes.answers import STAGE_ERRORS, timed_answer
from orchestrator.wiring import Services, services

Served = Annotated[Services, Depends(services)]

_BATCH_ROUTE = (
    "The inference endpoint for the whole batch: `gpu`, `cpu`, or `smart` (the CPU one when "
    "the batch's tokens, all windows of all texts, are at most SMART_MAX_CPU_TOKENS)."
)


async def _classify_one(
    text: str, request: Request, route: RouteChoice, served: Services
) -> JSONResponse:
    request_id = request.state.request_id
    answer = await served.coalescer.classify([text], request_id, route)
    fields = {
        **answer.results[0].model_dump(),
        "request_id": request_id,
        "timings": answer.timings,
        "cost": served.charge_answer(answer),
    }
    # /classify answers as it always has; only the route that chose says what it chose.
    response = (
        ClassifySmartResponse(**fields, route=answer.route)
        if route is RouteChoice.SMART
        else ClassifyResponse(**fields)
    )
    return timed_answer(response, answer.timings)


async def classify(body: ClassifyRequest, request: Request, served: Served) -> JSONResponse:
    return await _classify_one(body.text, request, RouteChoice.GPU, served)


async def classify_smart(body: ClassifyRequest, request: Request, served: Served) -> JSONResponse:
    return await _classify_one(body.text, request, RouteChoice.SMART, served)


async def classify_batch(
    request: Request,
    served: Served,
    route: Annotated[RouteChoice, Query(description=_BATCH_ROUTE)] = RouteChoice.GPU,
) -> JSONResponse:
    if route is RouteChoice.CPU:
        served.require_cpu_inference()
    texts = await batch_texts(request, served.settings.max_batch_texts)
    request_id = request.state.request_id
    answer = await served.coalescer.classify(texts, request_id, route)
    response = ClassifyBatchResponse(
        results=answer.results,
        request_id=request_id,
        timings=answer.timings,
        cost=served.charge_answer(answer),
        route=answer.route,
    )
    return timed_answer(response, answer.timings)


def router(max_batch_texts: int) -> APIRouter:
    """The pipeline routes. /classify-batch reads its body itself (the count is checked
    before any item is validated), so its schema, with this app's MAX_BATCH_TEXTS, is
    declared here for /docs."""
    routes = APIRouter(tags=["classify"])
    routes.add_api_route(
        "/classify",
        classify,
        methods=["POST"],
        response_model=ClassifyResponse,
        responses=STAGE_ERRORS,
        summary="Classify one text: preprocess, inference (GPU), postprocess",
    )
    routes.add_api_route(
        "/classify-smart",
        classify_smart,
        methods=["POST"],
        response_model=ClassifySmartResponse,
        responses=STAGE_ERRORS,
        summary="Classify one text on the CPU inference endpoint when it is small, else the GPU",
        description=(
            "As /classify, with the inference endpoint chosen per text: at most "
            "SMART_MAX_CPU_TOKENS tokens run on the CPU endpoint (ONNX Runtime, the same "
            "model), more on the GPU one. When the GPU endpoint cannot serve (unreachable, or "
            "jobs queued with no ready worker), texts up to SMART_FALLBACK_MAX_TOKENS run on "
            "the CPU instead. `route` says which endpoint ran and why."
        ),
    )
    batch_schema: dict[str, Any] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ClassifyRequest"},
        "minItems": 1,
        "maxItems": max_batch_texts,
    }
    routes.add_api_route(
        "/classify-batch",
        classify_batch,
        methods=["POST"],
        response_model=ClassifyBatchResponse,
        responses=STAGE_ERRORS,
        summary="Classify many texts: one job per stage for the whole batch",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": batch_schema}},
            }
        },
    )
    return routes
