"""HTTP routes: validate here so invalid input never reaches a worker, then run the stages."""

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contracts import (
    ClassifyBatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    ErrorResponse,
    ErrorType,
    FieldError,
    InferenceInput,
    PostprocessInput,
    PreprocessInput,
    Stage,
    StageResponse,
    StageTiming,
    Timings,
    describe_errors,
)
from orchestrator.docs import mount_offline_docs
from orchestrator.health import stage_health
from orchestrator.pipeline import Pipeline
from orchestrator.runpod_client import StageEndpoint, StageError
from orchestrator.settings import OrchestratorSettings

log = logging.getLogger("orchestrator")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        413: "The request body is larger than MAX_REQUEST_BYTES",
        422: "Invalid input: the message names what is wrong",
        502: "A stage's job failed: the message names the stage and carries the worker's message",
        503: "A stage's endpoint cannot be reached",
        504: "A stage did not finish within its timeout",
    }.items()
}


class InvalidBatchError(Exception):
    def __init__(self, message: str):
        self.message = message


def _error_response(
    request: Request,
    status: int,
    error: str,
    error_type: ErrorType,
    stage: Stage,
    details: list[FieldError] | None = None,
    stage_timings: dict[str, StageTiming] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    started = getattr(request.state, "started", None)
    total_ms = round((time.perf_counter() - started) * 1000, 3) if started else 0.0
    body = ErrorResponse(
        error=error,
        error_type=error_type,
        stage=stage,
        request_id=request_id,
        details=details or [],
        timings=Timings(**(stage_timings or {}), total_ms=total_ms),
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, headers={"X-Request-ID": request_id}
    )


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("Content-Length", "0"))
    except ValueError:
        return 0


def _timed_answer(body: BaseModel, timings: Timings) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json"), headers={"Server-Timing": _server_timing(timings)}
    )


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


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()

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
            app.state.pipeline = Pipeline(
                {
                    stage: StageEndpoint(
                        stage,
                        settings.base_url(stage),
                        client,
                        settings.timeout_s(stage),
                        settings.poll_interval_s,
                        api_key,
                    )
                    for stage in (Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS)
                }
            )
            yield

    app = FastAPI(
        title="Runpod CPU/GPU text classification",
        summary="Preprocess on CPU, classify on GPU, postprocess on CPU: three Runpod endpoints.",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    mount_offline_docs(app)

    @app.middleware("http")
    async def request_id_and_log(request: Request, call_next):
        sent = request.headers.get("X-Request-ID", "")
        request.state.request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        started = request.state.started = time.perf_counter()
        if _declared_length(request) > settings.max_request_bytes:
            response = _error_response(
                request,
                413,
                f"Request body too large (maximum {settings.max_request_bytes:,} bytes)",
                ErrorType.INVALID_INPUT,
                Stage.ORCHESTRATOR,
            )
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        # One line per request: never the body, which holds user text.
        log.info(
            "%s %s %d %.1fms request_id=%s",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            request.state.request_id,
        )
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            loc = loc[1:] if loc[:1] == ("body",) else loc
            if err.get("type") == "json_invalid":
                err = {**err, "msg": "Request body is not valid JSON", "type": "value_error"}
            elif err.get("type") == "missing" and not loc:
                err = {**err, "msg": "Request body is missing", "type": "value_error"}
            errors.append({**err, "loc": loc})
        message, details = describe_errors(errors)
        return _error_response(
            request, 422, message, ErrorType.INVALID_INPUT, Stage.ORCHESTRATOR, details
        )

    @app.exception_handler(InvalidBatchError)
    async def invalid_batch(request: Request, exc: InvalidBatchError) -> JSONResponse:
        return _error_response(
            request, 422, exc.message, ErrorType.INVALID_INPUT, Stage.ORCHESTRATOR
        )

    @app.exception_handler(StageError)
    async def stage_error(request: Request, exc: StageError) -> JSONResponse:
        log.warning(
            "request_id=%s job_id=%s %s",
            getattr(request.state, "request_id", "-"),
            exc.job_id or "-",
            exc.message,
        )
        return _error_response(
            request,
            exc.status_code,
            exc.message,
            exc.error_type,
            exc.stage,
            details=getattr(exc, "details", None),
            stage_timings=exc.timings,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: a message or traceback can carry user text or secrets.
        log.error(
            "request_id=%s internal error: %s",
            getattr(request.state, "request_id", "-"),
            type(exc).__name__,
        )
        return _error_response(
            request,
            500,
            "Internal error in the orchestrator",
            ErrorType.INTERNAL,
            Stage.ORCHESTRATOR,
        )

    def pipeline(request: Request) -> Pipeline:
        return request.app.state.pipeline

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        responses=_ERROR_RESPONSES,
        summary="Classify one text: preprocess, inference, postprocess",
    )
    async def classify(body: ClassifyRequest, request: Request) -> JSONResponse:
        results, timings = await pipeline(request).classify([body.text])
        response = ClassifyResponse(
            **results[0].model_dump(), request_id=request.state.request_id, timings=timings
        )
        return _timed_answer(response, timings)

    @app.post(
        "/classify-batch",
        response_model=ClassifyBatchResponse,
        responses=_ERROR_RESPONSES,
        summary="Classify many texts: preprocess each, ONE inference job, postprocess",
    )
    async def classify_batch(body: list[ClassifyRequest], request: Request) -> JSONResponse:
        if not body:
            raise InvalidBatchError("Batch cannot be empty")
        if len(body) > settings.max_batch_texts:
            raise InvalidBatchError(
                f"Too many texts (maximum {settings.max_batch_texts}). Got {len(body)}."
            )
        results, timings = await pipeline(request).classify([item.text for item in body])
        response = ClassifyBatchResponse(
            results=results, request_id=request.state.request_id, timings=timings
        )
        return _timed_answer(response, timings)

    async def forward(request: Request, stage: Stage, job_input: dict[str, Any]) -> JSONResponse:
        started = time.perf_counter()
        output, timing = await pipeline(request).run_stage(stage, job_input)
        timings = Timings(
            **{stage.value: timing}, total_ms=round((time.perf_counter() - started) * 1000, 3)
        )
        response = StageResponse(
            request_id=request.state.request_id,
            output=output if isinstance(output, dict) else {"value": output},
            timings=timings,
        )
        return _timed_answer(response, timings)

    @app.post(
        "/cpu/preprocess",
        response_model=StageResponse,
        responses=_ERROR_RESPONSES,
        summary="Run the preprocess stage alone",
    )
    async def cpu_preprocess(body: PreprocessInput, request: Request) -> JSONResponse:
        return await forward(request, Stage.PREPROCESS, body.model_dump(mode="json"))

    @app.post(
        "/gpu/inference",
        response_model=StageResponse,
        responses=_ERROR_RESPONSES,
        summary="Run the inference stage alone",
    )
    async def gpu_inference(body: InferenceInput, request: Request) -> JSONResponse:
        return await forward(
            request, Stage.INFERENCE, body.model_dump(mode="json", exclude_none=True)
        )

    @app.post(
        "/cpu/postprocess",
        response_model=StageResponse,
        responses=_ERROR_RESPONSES,
        summary="Run the postprocess stage alone",
    )
    async def cpu_postprocess(body: PostprocessInput, request: Request) -> JSONResponse:
        return await forward(
            request, Stage.POSTPROCESS, body.model_dump(mode="json", exclude_none=True)
        )

    @app.get("/ping", summary="Liveness, for Runpod load-balancing endpoints")
    async def ping() -> dict[str, str]:
        return {"status": "healthy"}

    @app.get("/health", summary="Whether each stage's endpoint answers, with its workers")
    async def health(request: Request) -> JSONResponse:
        endpoints = pipeline(request).endpoints
        answers = await asyncio.gather(*(stage_health(ep) for ep in endpoints.values()))
        stages = {stage.value: answer for stage, answer in zip(endpoints, answers, strict=True)}
        healthy = all(s["status"] == "ok" for s in stages.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "stages": stages},
            status_code=200 if healthy else 503,
        )

    return app


app = create_app()
