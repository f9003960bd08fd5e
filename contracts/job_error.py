"""A FAILED Runpod job's `error`, read once for every reader (the orchestrator, deploy smoke).

Runpod keeps only a string there. It holds one of three things: the worker's typed error
(WorkerError, as JSON), the SDK's report of an exception the handler did not catch (JSON
with the exception's type, message and traceback: never for an end user), or a plain message.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from contracts.errors import WorkerError

# The keys of the SDK's report of a raised exception.
_SDK_REPORT_KEYS = ("error_type", "error_message", "error_traceback")
_CLASS_NAME = re.compile(r"'([\w.]+)'")


@dataclass(frozen=True)
class JobError:
    """What a failed job's `error` says, read once."""

    # The error as text (JSON when it was not a string).
    text: str
    # The worker's own typed error, when it sent one.
    typed: WorkerError | None = None
    # The SDK's report of a raised exception, when it is one: its type as the SDK wrote it
    # ("<class 'KeyError'>") and the exception's message, which may quote user text.
    raised_type: str | None = None
    raised_message: str | None = None

    @property
    def is_raised_exception(self) -> bool:
        return self.raised_type is not None or self.raised_message is not None

    @property
    def exception_name(self) -> str:
        """The raised exception's class name alone: the one part safe to pass on."""
        match = _CLASS_NAME.search(self.raised_type or "")
        return match.group(1).rsplit(".", 1)[-1] if match else "an exception"

    @property
    def has_traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.text


def read_job_error(error: Any) -> JobError:
    """The parts of a FAILED job's `error`."""
    text = error if isinstance(error, str) else json.dumps(error)
    typed = WorkerError.from_wire(error)
    if typed is not None:
        return JobError(text=text, typed=typed)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and any(key in parsed for key in _SDK_REPORT_KEYS):
        return JobError(
            text=text,
            raised_type=str(parsed.get("error_type", "")),
            raised_message=str(parsed.get("error_message", "")),
        )
    return JobError(text=text)
