"""The error shape every component answers with, and how validation errors become it."""

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from contracts.limits import Limits


class Stage(StrEnum):
    ORCHESTRATOR = "orchestrator"
    PREPROCESS = "preprocess"
    INFERENCE = "inference"
    POSTPROCESS = "postprocess"
    # LAYOUT=single: the one endpoint that runs all three stages in one job.
    SINGLE = "single"
    # Its smart variant's CPU twin: the same all-stage job on ONNX Runtime, for short texts.
    SINGLE_CPU = "single_cpu"


class ErrorType(StrEnum):
    INVALID_INPUT = "invalid_input"  # the caller sent something wrong (HTTP 422)
    MODEL_ERROR = "model_error"  # the model failed on valid input, e.g. out of memory (HTTP 502)
    STAGE_FAILED = "stage_failed"  # a worker's job ended FAILED or CANCELLED (HTTP 502)
    STAGE_TIMEOUT = "stage_timeout"  # a stage did not finish within its timeout (HTTP 504)
    STAGE_UNAVAILABLE = "stage_unavailable"  # an endpoint could not be reached (HTTP 503)
    UNAUTHORIZED = "unauthorized"  # no API key, or one the orchestrator does not know (HTTP 401)
    OVERLOADED = "overloaded"  # too many requests in flight: retry after Retry-After (HTTP 429)
    SHUTTING_DOWN = "shutting_down"  # the orchestrator is draining: send it elsewhere (HTTP 503)
    INTERNAL = "internal"  # a bug of ours; details are in the logs, never in the answer


class FieldError(BaseModel):
    field: str
    message: str


class InputRuleError(ValueError):
    """Input of the right shape that breaks one of the contracts' rules (a label given twice,
    windows that disagree on the labels): the sender's mistake, answered as invalid input.

    `field` names where, in the job's input, as the orchestrator's 422 answer will show it."""

    def __init__(self, message: str, field: str = "input"):
        super().__init__(message)
        self.field = field


# What a worker may say about its own failure: the rest are the orchestrator's to tell.
WORKER_ERROR_TYPES = frozenset({ErrorType.INVALID_INPUT, ErrorType.MODEL_ERROR, ErrorType.INTERNAL})


class WorkerError(BaseModel):
    """A worker's failure, typed: carried as JSON inside the `error` string of a FAILED Runpod
    job (Runpod keeps only a string there), so the orchestrator can tell the caller's mistake
    (422) from a broken worker (502) and name the field. Extra keys are refused, so the SDK's
    own JSON for a raised exception (error_type, error_message, error_traceback) never parses
    as one."""

    model_config = ConfigDict(extra="forbid")

    error: str
    error_type: ErrorType
    details: list[FieldError] = []

    @field_validator("error_type")
    @classmethod
    def _a_worker_type(cls, value: ErrorType) -> ErrorType:
        if value not in WORKER_ERROR_TYPES:
            raise ValueError(f"a worker cannot report {value.value}")
        return value

    def to_wire(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_wire(cls, error: Any) -> "WorkerError | None":
        """The typed error inside a job's `error`, or None when it is not one (an old worker,
        or the SDK's report of an exception the handler did not catch)."""
        if isinstance(error, str):
            try:
                error = json.loads(error)
            except ValueError:
                return None
        if not isinstance(error, dict):
            return None
        try:
            return cls.model_validate(error)
        except ValidationError:
            return None


# Errors raised by our own validators carry a complete sentence naming what is wrong;
# pydantic's built-in ones ("Field required") need the field's name in front.
_SELF_DESCRIBING_TYPES = frozenset(
    {"text_empty", "text_too_short", "text_too_long", "text_not_unicode", "value_error", "too_many"}
)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "input"


def _in_our_words(err: Mapping[str, Any]) -> Mapping[str, Any]:
    # Pydantic refuses a lone surrogate in a constrained string before our validator sees it;
    # the caller gets the same sentence either way.
    if err["type"] == "string_unicode":
        return {**err, "type": "text_not_unicode", "msg": "Text is not valid Unicode"}
    return err


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> tuple[str, list[FieldError]]:
    """Summarize pydantic error entries as one user-facing message plus one entry per field."""
    details: list[FieldError] = []
    errors = [_in_our_words(err) for err in errors]
    for err in errors:
        message = str(err["msg"]).removeprefix("Value error, ")
        # Pydantic puts validator names in loc; they mean nothing to a user.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        details.append(FieldError(field=_field_path(loc), message=message))
    if not details:
        return "Invalid input", []
    first = details[0]
    summary = (
        first.message
        if errors[0]["type"] in _SELF_DESCRIBING_TYPES
        else f"{first.field}: {first.message}"
    )
    if len(details) > 1:
        summary += f" (and {len(details) - 1} more)"
    return summary[: Limits.MAX_ERROR_CHARS], details


def describe_validation_error(exc: ValidationError) -> tuple[str, list[FieldError]]:
    return describe_errors(exc.errors(include_url=False, include_input=False))


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad environment variable, for a component that cannot start."""
    _, details = describe_validation_error(exc)
    # Settings fields are the environment variables' names in lower case.
    problems = "; ".join(f"{d.field.upper()}: {d.message}" for d in details)
    return f"invalid configuration: {problems}"
