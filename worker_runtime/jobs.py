"""The job wrapper every worker runs its stage in: a typed error, never a traceback, and one
log line per job."""

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.errors import (
    ErrorType,
    FieldError,
    InputRuleError,
    WorkerError,
    describe_validation_error,
)
from contracts.limits import Limits
from worker_runtime.errors import ModelError
from worker_runtime.request_ids import pop_request_ids

log = logging.getLogger(__name__)


def worker_error(exc: Exception, stage: str) -> WorkerError:
    """The typed error a handler reports for `exc`."""
    if isinstance(exc, ValidationError):
        message, details = describe_validation_error(exc)
        return WorkerError(error=message, error_type=ErrorType.INVALID_INPUT, details=details)
    if isinstance(exc, InputRuleError):
        message = str(exc)[: Limits.MAX_ERROR_CHARS]
        return WorkerError(
            error=message,
            error_type=ErrorType.INVALID_INPUT,
            details=[FieldError(field=exc.field, message=message)],
        )
    if isinstance(exc, ModelError):
        log.error("%s stage: model error: %s", stage, exc)
        return WorkerError(
            error=f"The model failed in the {stage} worker: {exc}"[: Limits.MAX_ERROR_CHARS],
            error_type=ErrorType.MODEL_ERROR,
        )
    # Unexpected: log where it happened (not the traceback, which can hold user text) and
    # answer with a message that gives nothing away.
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "unknown"
    log.error("%s stage failed: %s at %s", stage, type(exc).__name__, where)
    return WorkerError(
        error=f"Internal error in the {stage} worker ({type(exc).__name__})",
        error_type=ErrorType.INTERNAL,
    )


def error_result(exc: Exception, stage: str) -> dict[str, str]:
    """The `{"error": ...}` a handler returns; Runpod marks the job FAILED with that string."""
    return {"error": worker_error(exc, stage).to_wire()}


def job_log_line(stage: str, job_id: Any, request_ids: list[str], ms: float, outcome: str) -> str:
    """The one line a job leaves in the worker's log: never its input."""
    ids = ",".join(request_ids) or "-"
    return f"{stage} job {job_id} request_ids={ids} {outcome} in {ms:.1f} ms"


StageWork = Callable[[Any], Any | Awaitable[Any]]


def plain(output: Any) -> Any:
    """A stage's output as the job answers it: a contract model as plain data."""
    return output.model_dump() if isinstance(output, BaseModel) else output


async def answer_job(stage: str, job: dict[str, Any], work: StageWork) -> dict[str, Any]:
    """What every handler does around its stage: take the request ids out of the input, run
    the stage, answer its output or its typed error, and log one line naming the job, the
    requests and the outcome (never the input)."""
    started = time.perf_counter()
    job_input, request_ids = pop_request_ids(job.get("input"))
    try:
        output = work(job_input)
        if inspect.isawaitable(output):
            output = await output
        result = plain(output)
        outcome = "failed" if "error" in result else "completed"
    except Exception as exc:
        result = error_result(exc, stage)
        outcome = "failed"
    ms = (time.perf_counter() - started) * 1000
    log.info(job_log_line(stage, job.get("id"), request_ids, ms, outcome))
    return result
