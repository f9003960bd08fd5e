"""Every error the orchestrator answers: its types, the one table from type to HTTP status,
and the one shape every answer takes (ErrorResponse, with X-Request-ID).

Validation (422), routing (404, 405), unreadable (400) and oversized (413) bodies, overload
(429), stage failures (502, 503, 504) and our own bugs (500) all answer the same way, and
each is listed in the OpenAPI document. A new error is a class here and a row in STATUS.
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
    Limits,
    Stage,
    StageTiming,
    Timings,
    WorkerError,
    describe_errors,
)
from contracts.job_error import read_job_error

log = logging.getLogger("orchestrator")


class OrchestratorError(Exception):
    """An error the orchestrator answers in the error shape; its status is in STATUS."""

    error_type = ErrorType.INTERNAL

    def __init__(self, message: str, details: list[FieldError] | None = None):
        super().__init__(message)
        self.message = message
        self.stage = Stage.ORCHESTRATOR
        self.details: list[FieldError] = details or []
        self.headers: dict[str, str] = {}
        # Filled on the way up: the failing stage's round trip, then the stages before it.
        self.timings: dict[Stage, StageTiming] = {}

    @property
    def status_code(self) -> int:
        """Read from STATUS: an error does not carry its own status."""
        return status_of(self)


class InvalidRequestError(OrchestratorError):
    """The caller's mistake, found by a route rather than by the body's model."""

    error_type = ErrorType.INVALID_INPUT


class BodyTooLargeError(OrchestratorError):
    error_type = ErrorType.INVALID_INPUT

    def __init__(self, max_request_bytes: int):
        super().__init__(f"Request body too large (maximum {max_request_bytes:,} bytes)")


class TooManyInFlightError(OrchestratorError):
    """Admission's limit of pipeline requests (orchestrator/admission.py) is reached."""

    error_type = ErrorType.OVERLOADED

    def __init__(self, limit: int):
        super().__init__(f"Too many requests in flight (at most {limit} now); retry after 1 second")
        self.headers = {"Retry-After": "1"}


class NotInLayoutError(OrchestratorError):
    """A stage route of a layout that runs no such stage on its own (LAYOUT=single)."""

    error_type = ErrorType.INVALID_INPUT

    def __init__(self, path: str, layout: str):
        super().__init__(
            f"No route {path} in LAYOUT={layout}: its endpoint runs every stage in one job; "
            "see /docs for the routes"
        )


class ShuttingDownError(OrchestratorError):
    """The orchestrator drains after SIGTERM (orchestrator/drain.py): a new request is sent
    elsewhere; one still running when the grace period ends is cut, its jobs cancelled."""

    error_type = ErrorType.SHUTTING_DOWN

    def __init__(self, cut: bool = False):
        if cut:
            super().__init__(
                "The orchestrator shut down before this request finished; its jobs were cancelled"
            )
        else:
            super().__init__(
                "The orchestrator is shutting down: send the request again (another worker "
                "takes it)"
            )
            self.headers = {"Retry-After": "1"}


class InternalError(OrchestratorError):
    """A bug of ours: answered without details, logged by type and request id."""

    def __init__(self) -> None:
        super().__init__("Internal error in the orchestrator")


class StageError(OrchestratorError):
    error_type = ErrorType.STAGE_FAILED

    def __init__(self, stage: Stage, message: str):
        super().__init__(f"{stage.value} stage: {message}")
        self.stage = stage
        # Runpod's id of the job, when there was one: for the logs, to find it in the console.
        self.job_id: str | None = None


def first_stage_error(failures: BaseExceptionGroup) -> BaseException:
    """What a TaskGroup of stage jobs raises: its first StageError when every failure is one
    (answered by its status), else the whole group (a bug: answered 500).

    Not `except* StageError: raise ...`: before Python 3.11.4 an exception raised inside
    except* comes out wrapped in an ExceptionGroup (CPython gh-103590), which would turn a
    stage's 503 into a 500 on Debian's Python 3.11.2."""
    stage_errors, others = failures.split(StageError)
    if others is not None or stage_errors is None:
        return failures
    first: BaseException = stage_errors
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


class StageFailedError(StageError):
    """The job ended FAILED or CANCELLED, or its output broke the contract."""

    def __init__(self, stage: Stage, message: str, error_type: ErrorType = ErrorType.STAGE_FAILED):
        super().__init__(stage, message)
        self.error_type = error_type


class StageRejectedInputError(StageError):
    """The worker found the caller's input wrong (a duplicate label, a foreign tokenizer):
    the caller's mistake, answered like the orchestrator's own validation."""

    error_type = ErrorType.INVALID_INPUT

    def __init__(self, stage: Stage, message: str, details: list[FieldError]):
        super().__init__(stage, message)
        # The worker's own words: the caller should not have to know which stage spoke.
        self.message = message
        self.details = details


class StageTimeoutError(StageError):
    error_type = ErrorType.STAGE_TIMEOUT


class StageUnavailableError(StageError):
    error_type = ErrorType.STAGE_UNAVAILABLE


class StageOverloadedError(StageError):
    """No connection to the endpoint came free in time: too much in flight, not a slow stage."""

    error_type = ErrorType.OVERLOADED

    def __init__(self, stage: Stage, message: str):
        super().__init__(stage, message)
        self.headers = {"Retry-After": "1"}


def copied_error(exc: StageError) -> StageError:
    """One exception object per request: each answer fills in its own timings."""
    # Not copy.copy: an exception is rebuilt from its args, which are not its __init__'s.
    twin = exc.__class__.__new__(exc.__class__)
    twin.args = exc.args
    twin.__dict__.update(exc.__dict__)
    twin.timings = dict(exc.timings)
    return twin


# The one table from error to HTTP status. A class not listed takes its nearest listed base's.
STATUS: dict[type[Exception], int] = {
    OrchestratorError: 500,
    InvalidRequestError: 422,
    BodyTooLargeError: 413,
    TooManyInFlightError: 429,
    NotInLayoutError: 404,
    ShuttingDownError: 503,
    InternalError: 500,
    StageError: 502,
    StageFailedError: 502,
    StageRejectedInputError: 422,
    StageOverloadedError: 429,
    StageUnavailableError: 503,
    StageTimeoutError: 504,
}


def status_of(exc: Exception) -> int:
    """The HTTP status `exc` is answered with: Starlette's own HTTP errors keep theirs."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


# For the OpenAPI document: every status any route may answer, all in the one shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "The request body could not be read (not UTF-8 JSON)",
        401: "API_KEYS is set and the request has no `Authorization: Bearer` key it lists",
        404: "No route at this path (or none in this LAYOUT: docs/api.md, routes by layout)",
        405: "The route does not take this method",
        413: "The request body is larger than MAX_REQUEST_BYTES",
        422: "Invalid input: the message names what is wrong, `details` each field",
        429: "Too many requests (admission: ADMISSION, MAX_IN_FLIGHT; or the API key's "
        "limits): retry after `Retry-After` seconds",
        500: "A bug in the orchestrator: logged by type and request id, never detailed here",
        502: "A stage's job failed: the message names the stage and carries the worker's message",
        503: "A stage's endpoint cannot be reached, or does not exist; or the orchestrator is "
        "shutting down (`shutting_down`: send it again, another worker takes it)",
        504: "A stage did not finish within its timeout",
    }.items()
}


def failed_job_error(stage: Stage, error: Any) -> StageError:
    """The error for a FAILED job: typed when the worker said what kind of failure it was."""
    read = read_job_error(error)
    if read.typed is not None:
        return typed_stage_error(stage, read.typed)
    return StageFailedError(stage, worker_message(error))


def typed_stage_error(stage: Stage, typed: WorkerError) -> StageError:
    """A worker's typed error as the orchestrator answers it: the caller's mistake, or the
    stage's failure. For a whole job's failure, or one item's in a batch job."""
    message = typed.error[: Limits.MAX_ERROR_CHARS]
    if typed.error_type is ErrorType.INVALID_INPUT:
        return StageRejectedInputError(stage, message, typed.details)
    return StageFailedError(stage, message, typed.error_type)


def worker_message(error: Any) -> str:
    """The worker's own message, or a neutral one when the SDK wrapped a raised exception."""
    read = read_job_error(error)
    if read.is_raised_exception:
        return f"the worker raised {read.exception_name}"
    if read.has_traceback:
        return "the worker failed (details are in its logs)"
    return read.text[: Limits.MAX_ERROR_CHARS]


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
    stage_timings: dict[Stage, StageTiming] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error shape itself; `answer_error` fills it from an error and the STATUS table."""
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


def answer_error(exc: OrchestratorError, request_id: str, started: float | None) -> JSONResponse:
    """The answer to one of the orchestrator's errors, its status read from STATUS."""
    return error_answer(
        request_id,
        started,
        status_of(exc),
        exc.message,
        exc.error_type,
        stage=exc.stage,
        details=exc.details,
        stage_timings=exc.timings,
        headers=exc.headers,
    )


def _answer(request: Request, exc: OrchestratorError) -> JSONResponse:
    return answer_error(exc, request_id_of(request), getattr(request.state, "started", None))


def _http_error_message(request: Request, exc: HTTPException, max_request_bytes: int) -> str:
    if exc.status_code == 404:
        return f"No route {request.url.path}: see /docs for the routes"
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    if exc.status_code == 413:
        return BodyTooLargeError(max_request_bytes).message
    if exc.status_code == 400:
        return "Request body could not be read: send UTF-8 JSON"
    return str(exc.detail)


def install_error_handlers(app: FastAPI, max_request_bytes: int) -> None:
    """Every error a route raises, answered in the one shape with its status from STATUS."""

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
        return _answer(request, InvalidRequestError(message, details))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = status_of(exc)
        error_type = ErrorType.INTERNAL if status >= 500 else ErrorType.INVALID_INPUT
        return error_answer(
            request_id_of(request),
            getattr(request.state, "started", None),
            status,
            _http_error_message(request, exc, max_request_bytes),
            error_type,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(OrchestratorError)
    async def orchestrator_error(request: Request, exc: OrchestratorError) -> JSONResponse:
        if isinstance(exc, StageError):
            log.warning(
                "request_id=%s job_id=%s %s %s",
                request_id_of(request),
                exc.job_id or "-",
                exc.error_type.value,
                # The worker's message may quote the caller's input: logged only for our faults.
                exc.message if status_of(exc) >= 500 else f"{exc.stage.value} stage",
            )
        return _answer(request, exc)
