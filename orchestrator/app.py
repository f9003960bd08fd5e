"""HTTP routes: validate here so invalid input never reaches a worker, then run the stages."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from contracts import (
    ClassifyBatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    ClassifySmartResponse,
    InferenceInput,
    InferenceOutput,
    InferenceResponse,
    InferenceSingleOutput,
    InferenceSingleResponse,
    InferenceTarget,
    PostprocessInput,
    PostprocessOutput,
    PostprocessResponse,
    PostprocessSingleResponse,
    PreprocessInput,
    PreprocessOutput,
    PreprocessResponse,
    RequestCost,
    RouteChoice,
    Stage,
    Timings,
    request_cost,
)
from contracts.postprocess import PostprocessSingleOutput
from orchestrator.coalescing import Answer, Coalescer
from orchestrator.docs import mount_offline_docs
from orchestrator.errors import ERROR_RESPONSES, InvalidRequestError, install_error_handlers
from orchestrator.gpu_availability import GpuAvailability
from orchestrator.health import stage_health
from orchestrator.metrics import Metrics
from orchestrator.pipeline import Pipeline, parse_output
from orchestrator.request_guard import RequestGuard
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.runpod_client import StageEndpoint, StageUnavailableError
from orchestrator.settings import OrchestratorSettings

_BATCH_ITEMS = TypeAdapter(list[ClassifyRequest])
_BATCH_ROUTE = (
    "The inference endpoint for the whole batch: `gpu`, `cpu`, or `smart` (the CPU one when "
    "the batch's tokens, all windows of all texts, are at most SMART_MAX_CPU_TOKENS)."
)
# What each single-stage route's answer must be, checked before it is passed on.
_STAGE_OUTPUTS: dict[Stage, Any] = {
    Stage.PREPROCESS: PreprocessOutput,
    Stage.INFERENCE: InferenceOutput | InferenceSingleOutput,
    Stage.POSTPROCESS: PostprocessOutput | PostprocessSingleOutput,
}


def _timed_answer(body: BaseModel | dict[str, Any], timings: Timings) -> JSONResponse:
    content = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return JSONResponse(content, headers={"Server-Timing": _server_timing(timings)})


def _server_timing(timings: Timings) -> str:
    parts = [
        f"{name};dur={timing.round_trip_ms:.1f}"
        for name, timing in (
            ("preprocess", timings.preprocess),
            ("inference", timings.inference),
            ("postprocess", timings.postprocess),
        )
        if timing is not None
    ]
    return ", ".join([*parts, f"total;dur={timings.total_ms:.1f}"])


def _runs_stage_jobs(scope: Scope) -> bool:
    """The requests MAX_IN_FLIGHT counts: every POST starts stage jobs."""
    return scope.get("method") == "POST"


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()
    metrics = Metrics()
    prices = settings.prices()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
        )
        async with httpx.AsyncClient(limits=limits) as client:
            api_key = (
                settings.runpod_api_key.get_secret_value() if settings.runpod_api_key else None
            )

            def endpoint(
                stage: Stage, url: str, timeout_s: float, hosted: bool, **names: str
            ) -> StageEndpoint:
                return StageEndpoint(
                    stage,
                    url,
                    client,
                    timeout_s,
                    settings.poll_interval_s,
                    api_key,
                    hosted=hosted,
                    ttl_s=settings.job_ttl_s,
                    **names,
                )

            endpoints = {
                stage: endpoint(
                    stage,
                    settings.base_url(stage),
                    settings.timeout_s(stage),
                    settings.hosted(stage),
                )
                for stage in (Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS)
            }
            cpu_inference = None
            if settings.cpu_inference_base_url is not None:
                cpu_inference = endpoint(
                    Stage.INFERENCE,
                    settings.cpu_inference_base_url,
                    settings.cpu_inference_timeout_s,
                    settings.cpu_inference_hosted,
                    name="inference_cpu",
                    variable="CPU_INFERENCE_ENDPOINT",
                )
            router = InferenceRouter(
                endpoints[Stage.INFERENCE],
                cpu_inference,
                RoutingPolicy(
                    max_cpu_tokens=settings.smart_max_cpu_tokens,
                    fallback_max_tokens=settings.smart_fallback_max_tokens,
                    has_cpu=cpu_inference is not None,
                    retry_timeout_on_cpu=settings.smart_retry_timeout_on_cpu,
                ),
                GpuAvailability(
                    endpoints[Stage.INFERENCE],
                    settings.smart_gpu_max_queue_s,
                    settings.smart_gpu_health_interval_s,
                ),
            )
            app.state.pipeline = Pipeline(endpoints, metrics, router)
            app.state.coalescer = Coalescer(
                app.state.pipeline.classify_many,
                settings.coalesce_wait_ms,
                settings.coalesce_max_texts,
            )
            try:
                yield
            finally:
                # Jobs cancelled in the last moments still get their /cancel before the pool closes.
                every = [*endpoints.values(), *([cpu_inference] if cpu_inference else [])]
                await asyncio.gather(*(ep.drain_cancellations() for ep in every))

    app = FastAPI(
        title="Runpod CPU/GPU text classification",
        summary="Preprocess on CPU, classify on GPU, postprocess on CPU: three Runpod endpoints.",
        version="1.0.0",
        lifespan=lifespan,
        # Served from the installed package, not a CDN: /docs works offline (docs.py).
        docs_url=None,
        redoc_url=None,
        responses={code: ERROR_RESPONSES[code] for code in (400, 404, 405, 413, 429, 500)},
    )
    app.add_middleware(
        RequestGuard,
        max_in_flight=settings.max_in_flight,
        max_request_bytes=settings.max_request_bytes,
        admitted=_runs_stage_jobs,
        metrics=metrics,
    )
    install_error_handlers(app, settings.max_request_bytes)
    mount_offline_docs(app)
    stage_errors = {code: ERROR_RESPONSES[code] for code in (422, 502, 503, 504)}

    def pipeline(request: Request) -> Pipeline:
        return request.app.state.pipeline

    def coalescer(request: Request) -> Coalescer:
        return request.app.state.coalescer

    def charge(
        timings: Timings,
        share: float = 1.0,
        stage_shares: dict[str, float] | None = None,
        inference_on: InferenceTarget = InferenceTarget.GPU,
    ) -> RequestCost:
        """The request's execution cost, counted in the metrics as it is answered."""
        cost = request_cost(timings, prices, share, stage_shares, inference_on)
        metrics.charged(cost, inference_on)
        return cost

    def charge_answer(answer: Answer) -> RequestCost:
        on = answer.route.endpoint if answer.route else InferenceTarget.GPU
        return charge(answer.timings, answer.share, answer.stage_shares, on)

    async def classify_one(text: str, request: Request, route: RouteChoice) -> JSONResponse:
        request_id = request.state.request_id
        answer = await coalescer(request).classify([text], request_id, route)
        fields = {
            **answer.results[0].model_dump(),
            "request_id": request_id,
            "timings": answer.timings,
            "cost": charge_answer(answer),
        }
        # /classify answers as it always has; only the route that chose says what it chose.
        response = (
            ClassifySmartResponse(**fields, route=answer.route)
            if route is RouteChoice.SMART
            else ClassifyResponse(**fields)
        )
        return _timed_answer(response, answer.timings)

    def require_cpu_inference(request: Request) -> None:
        if not pipeline(request).router.has_cpu:
            raise StageUnavailableError(
                Stage.INFERENCE, "no CPU inference endpoint: set CPU_INFERENCE_ENDPOINT"
            )

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        responses=stage_errors,
        summary="Classify one text: preprocess, inference (GPU), postprocess",
    )
    async def classify(body: ClassifyRequest, request: Request) -> JSONResponse:
        return await classify_one(body.text, request, RouteChoice.GPU)

    @app.post(
        "/classify-smart",
        response_model=ClassifySmartResponse,
        responses=stage_errors,
        summary="Classify one text on the CPU inference endpoint when it is small, else the GPU",
        description=(
            "As /classify, with the inference endpoint chosen per text: at most "
            "SMART_MAX_CPU_TOKENS tokens run on the CPU endpoint (ONNX Runtime, the same "
            "model), more on the GPU one. When the GPU endpoint cannot serve (unreachable, or "
            "jobs queued with no ready worker), texts up to SMART_FALLBACK_MAX_TOKENS run on "
            "the CPU instead. `route` says which endpoint ran and why."
        ),
    )
    async def classify_smart(body: ClassifyRequest, request: Request) -> JSONResponse:
        return await classify_one(body.text, request, RouteChoice.SMART)

    @app.post(
        "/classify-batch",
        response_model=ClassifyBatchResponse,
        responses=stage_errors,
        summary="Classify many texts: one job per stage for the whole batch",
        # The body is read by the route (the count is checked before any item is validated),
        # so its schema is declared here for /docs.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/ClassifyRequest"},
                            "minItems": 1,
                            "maxItems": settings.max_batch_texts,
                        }
                    }
                },
            }
        },
    )
    async def classify_batch(
        request: Request,
        route: Annotated[RouteChoice, Query(description=_BATCH_ROUTE)] = RouteChoice.GPU,
    ) -> JSONResponse:
        if route is RouteChoice.CPU:
            require_cpu_inference(request)
        texts = await _batch_texts(request, settings.max_batch_texts)
        request_id = request.state.request_id
        answer = await coalescer(request).classify(texts, request_id, route)
        response = ClassifyBatchResponse(
            results=answer.results,
            request_id=request_id,
            timings=answer.timings,
            cost=charge_answer(answer),
            route=answer.route,
        )
        return _timed_answer(response, answer.timings)

    async def forward(
        request: Request,
        stage: Stage,
        job_input: dict[str, Any],
        on: InferenceTarget = InferenceTarget.GPU,
    ) -> JSONResponse:
        started = time.perf_counter()
        request_id = request.state.request_id
        endpoint = pipeline(request).router.endpoint(on) if stage is Stage.INFERENCE else None
        output, timing = await pipeline(request).run_stage(stage, job_input, [request_id], endpoint)
        parse_output(stage, _STAGE_OUTPUTS[stage], output)
        timings = Timings(
            **{stage.value: timing}, total_ms=round((time.perf_counter() - started) * 1000, 3)
        )
        # The stage's fields at the top level, as /classify answers and the pattern's routes do.
        answer = {
            **output,
            "request_id": request_id,
            "timings": timings.model_dump(mode="json"),
            "cost": charge(timings, inference_on=on).model_dump(mode="json"),
        }
        return _timed_answer(answer, timings)

    @app.post(
        "/cpu/preprocess",
        response_model=PreprocessResponse,
        responses=stage_errors,
        summary="Run the preprocess stage alone",
    )
    async def cpu_preprocess(body: PreprocessInput, request: Request) -> JSONResponse:
        return await forward(request, Stage.PREPROCESS, body.model_dump(mode="json"))

    @app.post(
        "/gpu/inference",
        response_model=InferenceSingleResponse | InferenceResponse,
        responses=stage_errors,
        summary="Run the inference stage alone",
    )
    async def gpu_inference(body: InferenceInput, request: Request) -> JSONResponse:
        return await forward(request, Stage.INFERENCE, await _inference_job(body, request))

    @app.post(
        "/cpu/inference",
        response_model=InferenceSingleResponse | InferenceResponse,
        responses=stage_errors,
        summary="Run the inference stage alone on the CPU inference endpoint (ONNX Runtime)",
    )
    async def cpu_inference(body: InferenceInput, request: Request) -> JSONResponse:
        require_cpu_inference(request)
        job_input = await _inference_job(body, request)
        return await forward(request, Stage.INFERENCE, job_input, InferenceTarget.CPU)

    @app.post(
        "/cpu/postprocess",
        response_model=PostprocessSingleResponse | PostprocessResponse,
        responses=stage_errors,
        summary="Run the postprocess stage alone",
    )
    async def cpu_postprocess(body: PostprocessInput, request: Request) -> JSONResponse:
        job_input = body.model_dump(mode="json", exclude_none=True)
        # FastAPI keeps the parsed body: sent in the pattern's form, answered in it.
        if PostprocessInput.is_single_form(await request.json()):
            job_input = {**job_input["items"][0], "model_info": job_input.get("model_info")}
            job_input = {k: v for k, v in job_input.items() if v is not None}
        return await forward(request, Stage.POSTPROCESS, job_input)

    @app.get(
        "/metrics",
        summary="Prometheus metrics: requests, stage latencies, jobs, windows, cost, errors",
        response_class=Response,
    )
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    @app.get("/ping", summary="Liveness, for Runpod load-balancing endpoints")
    async def ping() -> dict[str, str]:
        return {"status": "healthy"}

    @app.get(
        "/health",
        summary="Whether each stage's endpoint answers, with its workers",
        responses={503: ERROR_RESPONSES[503]},
    )
    async def health(request: Request) -> JSONResponse:
        router = pipeline(request).router
        endpoints = [
            *pipeline(request).endpoints.values(),
            *([router.endpoint(InferenceTarget.CPU)] if router.has_cpu else []),
        ]
        answers = await asyncio.gather(*(stage_health(ep) for ep in endpoints))
        stages = {ep.name: answer for ep, answer in zip(endpoints, answers, strict=True)}
        healthy = all(s["status"] == "ok" for s in stages.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "stages": stages},
            status_code=200 if healthy else 503,
        )

    return app


async def _inference_job(body: InferenceInput, request: Request) -> dict[str, Any]:
    job_input = body.model_dump(mode="json", exclude_none=True)
    # FastAPI keeps the parsed body: one text sent on its own is answered on its own.
    if InferenceInput.is_single_form(await request.json()):
        job_input = job_input["items"][0]
    return job_input


async def _json_body(request: Request) -> Any:
    raw = await request.body()  # bounded by RequestGuard as it arrives
    if not raw:
        raise InvalidRequestError("Request body is missing")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        # As FastAPI answers an unreadable body on the other routes.
        raise HTTPException(400) from None
    except ValueError:
        raise InvalidRequestError("Request body is not valid JSON") from None


async def _batch_texts(request: Request, max_texts: int) -> list[str]:
    """The batch's texts. Its size is checked before any item is validated, so a huge list
    of junk is refused at the cost of counting it."""
    raw = await _json_body(request)
    if not isinstance(raw, list):
        raise InvalidRequestError('Request body must be a JSON list of {"text": ...} objects')
    if not raw:
        raise InvalidRequestError("Batch cannot be empty")
    if len(raw) > max_texts:
        raise InvalidRequestError(f"Too many texts (maximum {max_texts}). Got {len(raw)}.")
    try:
        items = _BATCH_ITEMS.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    return [item.text for item in items]


app = create_app()
