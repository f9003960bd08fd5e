"""A route's answer with its stages' timings in a Server-Timing header."""

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contracts import Timings
from orchestrator.errors import ERROR_RESPONSES

# What a route that runs stage jobs may answer besides success, for the OpenAPI document.
STAGE_ERRORS = {code: ERROR_RESPONSES[code] for code in (422, 502, 503, 504)}


def timed_answer(body: BaseModel | dict[str, Any], timings: Timings) -> JSONResponse:
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
