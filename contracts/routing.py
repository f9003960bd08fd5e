"""Which inference endpoint classifies a request: the GPU one, or the CPU one (ONNX Runtime).

The same model answers on both (within 1e-4); only the hardware and its price differ. A
caller names the endpoint (`gpu`, `cpu`) or lets the orchestrator choose (`smart`): a small
input (its texts' tokens, all windows together, at most SMART_MAX_CPU_TOKENS) costs less on a
CPU worker and is not much slower there; a larger one goes to the GPU. Every answer that made
the choice says which endpoint ran and why.
"""

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field

# Measured, not guessed: `python -m benchmarks.backends` on 2 cores (a 2-vCPU CPU worker's
# stand-in) picks the largest token count whose ONNX Runtime p50 for one text is within its
# latency budget; the README shows its runs and the budget's reason.
DEFAULT_SMART_MAX_CPU_TOKENS: Final = 64


class InferenceTarget(StrEnum):
    """An inference endpoint."""

    GPU = "gpu"
    CPU = "cpu"


class RouteChoice(StrEnum):
    """What the caller asks for: an endpoint, or the orchestrator's choice."""

    GPU = "gpu"
    CPU = "cpu"
    SMART = "smart"


class RouteReason(StrEnum):
    # The caller named the endpoint.
    REQUESTED = "requested"
    # Tokens at most SMART_MAX_CPU_TOKENS, or above it.
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    # Fallbacks: the endpoint that would have been chosen cannot serve now.
    GPU_UNREACHABLE = "gpu_unreachable"
    GPU_BACKLOG = "gpu_backlog"
    GPU_TIMED_OUT = "gpu_timed_out"
    CPU_UNREACHABLE = "cpu_unreachable"
    NO_CPU_ENDPOINT = "no_cpu_endpoint"


class Route(BaseModel):
    """Which inference endpoint ran a request's texts, and why."""

    endpoint: InferenceTarget
    reason: RouteReason
    # The reason in words, with the figures it rests on.
    detail: str
    # The request's tokens, every window of every text (special tokens included).
    tokens: int = Field(ge=0)
    # The threshold the choice used (SMART_MAX_CPU_TOKENS); None when the caller chose.
    max_cpu_tokens: int | None = None


def smart_target(tokens: int, max_cpu_tokens: int) -> InferenceTarget:
    """The endpoint `smart` picks for an input of `tokens` tokens, all else being well."""
    return InferenceTarget.CPU if tokens <= max_cpu_tokens else InferenceTarget.GPU
