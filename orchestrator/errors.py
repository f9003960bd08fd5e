"""Every error the orchestrator answers, in the one shape: ErrorResponse and X-Request-ID.

Validation (422), routing (404, 405), unreadable (400) and oversized (413) bodies, overload
(429), stage failures (502, 503, 504) and our own bugs (500) all answer the same way, and
each is listed in the OpenAPI document.
"""

import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from contracts import (
    ErrorResponse,
    ErrorType,
    FieldError,
    Stage,
    StageTiming,
    Timings,
    describe_errors,
)
from orchestrator.runpod_client import StageError

log = logging.getLogger("orchestrator")

# For the OpenAPI document: every status any route may answer, all in the one shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "The request body could not be read (not UTF-8 JSON)",
        401: "API_KEYS is set and the request has no `Authorization: Bearer` key it lists",
        404: "No route at this path",
        405: "The route does not take this method",
        413: "The request body is larger than MAX_REQUEST_BYTES",
        422: "Invalid input: the message names what is wrong, `details` each field",
        429: "Too many requests (MAX_IN_FLIGHT, or the API key's limits): retry after "
        "`Retry-After` seconds",
        500: "A bug in the orchestrator: logged by type and request id, never detailed here",
        502: "A stage's job failed: the message names the stage and carries the worker's message",
        503: "A stage's endpoint cannot be reached, or does not exist",
        504: "A stage did not finish within its timeout",
    }.items()
}


class InvalidRequestError(Exception):
    """The caller's mistake, found by a route rather than by the body's model."""

    def __init__(self, message: str, details: list[FieldError] | None = None):
        self.message = message
        self.details = details or []


def request_id_of(scope_or_request: Any) -> str:
    state = getattr(scope_or_request, "state", None)
    request_id = getattr(state, "request_id", None) if state is not None else None
    return request_id or uuid.uuid4().hex


def error_answer(
    request_id: str,
    started: float | None,
    status: int,
    error: str,
    error_type: ErrorType,
    stage: Stage = Stage.ORCHESTRATOR,
    details: list[FieldError] | None = None,
    stage_timings: dict[str, StageTiming] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
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
        body.model_dump(mode="json"),
        status_code=status,
        headers={**(headers or {}), "X-Request-ID": request_id},
    )


def _answer(request: Request, status: int, error: str, error_type: ErrorType, **kw) -> JSONResponse:
    started = getattr(request.state, "started", None)
    return error_answer(request_id_of(request), started, status, error, error_type, **kw)


def _http_error_message(request: Request, exc: HTTPException, max_request_bytes: int) -> str:
    if exc.status_code == 404:
        return f"No route {request.url.path}: see /docs for the routes"
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    if exc.status_code == 413:
        return f"Request body too large (maximum {max_request_bytes:,} bytes)"
    if exc.status_code == 400:
        return "Request body could not be read: send UTF-8 JSON"
    return str(exc.detail)


def install_error_handlers(app: FastAPI, max_request_bytes: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            loc = loc[1:] if loc[:1] == ("body",) else loc
            if err.get("type") == "json_invalid":
                err = {**err, "msg": "Request body is not valid JSON", "type": "value_error"}
                loc = ()
            elif err.get("type") == "missing" and not loc:
                err = {**err, "msg": "Request body is missing", "type": "value_error"}
            errors.append({**err, "loc": loc})
        message, details = describe_errors(errors)
        return _answer(request, 422, message, ErrorType.INVALID_INPUT, details=details)

    @app.exception_handler(InvalidRequestError)
    async def invalid_batch(request: Request, exc: InvalidRequestError) -> JSONResponse:
        return _answer(request, 422, exc.message, ErrorType.INVALID_INPUT, details=exc.details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        error_type = ErrorType.INTERNAL if status >= 500 else ErrorType.INVALID_INPUT
        message = _http_error_message(request, exc, max_request_bytes)
        headers = dict(exc.headers or {})
        return _answer(request, status, message, error_type, headers=headers)

    @app.exception_handler(StageError)
    async def stage_error(request: Request, exc: StageError) -> JSONResponse:
        log.warning(
            "request_id=%s job_id=%s %s %s",
            request_id_of(request),
            exc.job_id or "-",
            exc.error_type.value,
            # The worker's message may quote the caller's input: logged only for our faults.
            exc.message if exc.status_code >= 500 else f"{exc.stage.value} stage",
        )
        return _answer(
            request,
            exc.status_code,
            exc.message,
            exc.error_type,
            stage=exc.stage,
            details=exc.details,
            stage_timings=exc.timings,
            headers=exc.headers,
        )
