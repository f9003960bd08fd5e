"""A stage's output checked against its contract before anything else sees it, so a worker
that answers something else fails here with the stage's name, not three stages on."""

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contracts import Stage
from orchestrator.errors import StageFailedError


@functools.cache
def _adapter(model: Any) -> TypeAdapter:
    return TypeAdapter(model)


def parse_output(stage: Stage, model: Any, output: Any) -> Any:
    """`output` as `model` (a pydantic model or a union of them), or the stage's failure."""
    try:
        return _adapter(model).validate_python(output)
    except ValidationError:
        raise StageFailedError(stage, "the worker's output does not match the contract") from None
