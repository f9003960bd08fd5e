"""What callers send, put into the one shape the orchestrator works in, once, at the edge.

The pipeline routes deal in lists of texts: /classify's one text is a list of one, and
/classify-batch's list is counted before any item is validated. The stage routes take an
item on its own or a batch (as the pattern's routes do): which one the caller sent is read
here, once, and the answer comes back in the same form.
"""

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

from contracts import ClassifyRequest, InferenceInput, PostprocessInput
from orchestrator.errors import InvalidRequestError

_BATCH_ITEMS = TypeAdapter(list[ClassifyRequest])


@dataclass(frozen=True)
class StageCall:
    """A stage route's job input, and whether the caller sent one item on its own."""

    job_input: dict[str, Any]
    single: bool


async def inference_call(body: InferenceInput, request: Request) -> StageCall:
    job_input = body.model_dump(mode="json", exclude_none=True)
    # FastAPI keeps the parsed body: one text sent on its own is answered on its own.
    if InferenceInput.is_single_form(await request.json()):
        return StageCall(job_input["items"][0], single=True)
    return StageCall(job_input, single=False)


async def postprocess_call(body: PostprocessInput, request: Request) -> StageCall:
    job_input = body.model_dump(mode="json", exclude_none=True)
    # FastAPI keeps the parsed body: sent in the pattern's form, answered in it.
    if PostprocessInput.is_single_form(await request.json()):
        single = {**job_input["items"][0], "model_info": job_input.get("model_info")}
        return StageCall({k: v for k, v in single.items() if v is not None}, single=True)
    return StageCall(job_input, single=False)


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


async def batch_texts(request: Request, max_texts: int) -> list[str]:
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
