"""The orchestrator's HTTP API: request bodies, responses and per-stage timings."""

from pydantic import BaseModel, ConfigDict

from contracts.postprocess import ClassificationResult
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


class Timings(BaseModel):
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


class StageResponse(BaseModel):
    """What a single-stage route answers: the worker's own output, unchanged."""

    request_id: str
    output: dict
    timings: Timings
