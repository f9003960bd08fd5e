"""The orchestrator's HTTP API: request bodies, responses and per-stage timings."""

from pydantic import BaseModel, ConfigDict

from contracts.cost import RequestCost
from contracts.errors import ErrorType, FieldError, Stage
from contracts.inference import InferenceOutput, InferenceSingleOutput
from contracts.postprocess import ClassificationResult, PostprocessOutput, PostprocessSingleOutput
from contracts.preprocess import PreprocessOutput
from contracts.routing import Route
from contracts.text import ClassifiableText
from contracts.timing import Timings


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ClassifiableText


class ClassifyResponse(ClassificationResult):
    request_id: str
    timings: Timings
    cost: RequestCost


class ClassifySmartResponse(ClassifyResponse):
    # Which inference endpoint ran the text, and why.
    route: Route


class ClassifyBatchResponse(BaseModel):
    request_id: str
    results: list[ClassificationResult]
    timings: Timings
    cost: RequestCost
    # Which inference endpoint ran the batch (its `route` parameter), and why.
    route: Route


class Answered(BaseModel):
    """What the orchestrator adds to a stage's own output on a single-stage route."""

    request_id: str
    timings: Timings
    cost: RequestCost


# Single-stage routes answer the worker's output at the top level, as the pattern's do.
class PreprocessResponse(PreprocessOutput, Answered):
    pass


class InferenceResponse(InferenceOutput, Answered):
    pass


class InferenceSingleResponse(InferenceSingleOutput, Answered):
    pass


class PostprocessResponse(PostprocessOutput, Answered):
    pass


class PostprocessSingleResponse(PostprocessSingleOutput, Answered):
    pass


class ErrorResponse(BaseModel):
    error: str
    error_type: ErrorType
    stage: Stage
    request_id: str | None = None
    details: list[FieldError] = []
    # The stages that ran before (and including) the one that failed, and the total.
    timings: Timings | None = None
