"""The pipeline's contracts: every stage's input, output, limits, error shape and rules.

Data and rules only. All four components import this package (the workers also run in
worker_runtime, which the orchestrator never imports); it imports nothing of theirs. Its
only dependency is pydantic (tests/test_architecture.py checks both).
"""

from contracts.api import (
    Answered,
    ClassifyBatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    ClassifySmartResponse,
    ErrorResponse,
    InferenceResponse,
    InferenceSingleResponse,
    PostprocessResponse,
    PostprocessSingleResponse,
    PreprocessResponse,
)
from contracts.cost import RequestCost, StageCost, request_cost
from contracts.endpoints import STAGE_ENDPOINTS, Endpoint
from contracts.errors import (
    ErrorType,
    FieldError,
    Stage,
    WorkerError,
    describe_errors,
    describe_validation_error,
)
from contracts.inference import (
    BatchingInfo,
    InferenceInput,
    InferenceItem,
    InferenceOutput,
    InferenceSingleOutput,
    ItemPrediction,
    ModelInfo,
    Prediction,
    WindowPrediction,
)
from contracts.limits import Limits
from contracts.postprocess import (
    Classification,
    ClassificationResult,
    PostprocessInput,
    PostprocessItem,
    PostprocessOutput,
    ResultMetadata,
    confidence_level,
)
from contracts.preprocess import (
    PreprocessBatchInput,
    PreprocessBatchOutput,
    PreprocessInput,
    PreprocessOutput,
    TextStats,
    TokenizerInfo,
    TokenWindow,
)
from contracts.pricing import DEFAULT_CPU_USD_PER_S, DEFAULT_GPU_USD_PER_S, StagePrices
from contracts.routing import (
    DEFAULT_SMART_MAX_CPU_TOKENS,
    InferenceTarget,
    Route,
    RouteChoice,
    RouteReason,
    smart_target,
)
from contracts.text import ClassifiableText, validate_text
from contracts.timing import StageTiming, Timings

__all__ = [
    "DEFAULT_CPU_USD_PER_S",
    "DEFAULT_GPU_USD_PER_S",
    "DEFAULT_SMART_MAX_CPU_TOKENS",
    "STAGE_ENDPOINTS",
    "Answered",
    "BatchingInfo",
    "ClassifiableText",
    "Classification",
    "ClassificationResult",
    "ClassifyBatchResponse",
    "ClassifyRequest",
    "ClassifyResponse",
    "ClassifySmartResponse",
    "Endpoint",
    "ErrorResponse",
    "ErrorType",
    "FieldError",
    "InferenceInput",
    "InferenceItem",
    "InferenceOutput",
    "InferenceResponse",
    "InferenceSingleOutput",
    "InferenceSingleResponse",
    "InferenceTarget",
    "ItemPrediction",
    "Limits",
    "ModelInfo",
    "PostprocessInput",
    "PostprocessItem",
    "PostprocessOutput",
    "PostprocessResponse",
    "PostprocessSingleResponse",
    "Prediction",
    "PreprocessBatchInput",
    "PreprocessBatchOutput",
    "PreprocessInput",
    "PreprocessOutput",
    "PreprocessResponse",
    "RequestCost",
    "ResultMetadata",
    "Route",
    "RouteChoice",
    "RouteReason",
    "Stage",
    "StageCost",
    "StagePrices",
    "StageTiming",
    "TextStats",
    "Timings",
    "TokenWindow",
    "TokenizerInfo",
    "WindowPrediction",
    "WorkerError",
    "confidence_level",
    "describe_errors",
    "describe_validation_error",
    "request_cost",
    "smart_target",
    "validate_text",
]
