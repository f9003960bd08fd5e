"""How a worker turns a failure into a Runpod job result: a clear message, never a traceback."""

import logging

from pydantic import ValidationError

from contracts.errors import describe_validation_error

log = logging.getLogger(__name__)


class StageInputError(ValueError):
    """The job's input is wrong in a way only the stage itself can tell (e.g. another tokenizer)."""


def error_result(exc: Exception, stage: str) -> dict[str, str]:
    """The `{"error": ...}` a handler returns; Runpod marks the job FAILED with that message."""
    if isinstance(exc, ValidationError):
        message, _ = describe_validation_error(exc)
        return {"error": message}
    if isinstance(exc, StageInputError):
        return {"error": str(exc)}
    # Unexpected: log where it happened (not the traceback, which can hold user text) and
    # answer with a message that gives nothing away.
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "unknown"
    log.error("%s stage failed: %s at %s", stage, type(exc).__name__, where)
    return {"error": f"Internal error in the {stage} worker ({type(exc).__name__})"}
