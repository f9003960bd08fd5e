"""The orchestrator's HTTP API: request bodies, responses and per-stage timings."""

from pydantic import BaseModel, ConfigDict

from contracts.errors import ErrorType, FieldError, Stage
from contracts.inference import InferenceOutput, InferenceSingleOutput
from contracts.postprocess import ClassificationResult, PostprocessOutput, PostprocessSingleOutput
from contracts.preprocess import PreprocessOutput
from contracts.text import ClassifiableText


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ClassifiableText


class StageTiming(BaseModel):
    # Measured by the orchestrator: request sent to final answer, polling included.
    round_trip_ms: float
    # Reported by the hosted endpoint (absent from Runpod's local API server): time in the
    # queue, cold start included, and the handler's execution time. The largest over the
    # stage's jobs when a batch runs several.
    queue_ms: float | None = None
    execution_ms: float | None = None
    jobs: int = 1
    # Requests whose texts shared this stage's job(s): concurrent requests are coalesced.
    shared_by: int = 1


class Timings(BaseModel):
    # How long the request waited for others to share its jobs (COALESCE_WAIT_MS at most).
    coalesce_wait_ms: float = 0.0
    preprocess: StageTiming | None = None
    inference: StageTiming | None = None
    postprocess: StageTiming | None = None
    total_ms: float


class ClassifyResponse(ClassificationResult):
    request_id: str
    timings: Timings


class ClassifyBatchResponse(BaseModel):
    request_id: str
    results: list[ClassificationResult]
    timings: Timings


class Answered(BaseModel):
    """What the orchestrator adds to a stage's own output on a single-stage route."""

    request_id: str
    timings: Timings


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
