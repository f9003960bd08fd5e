"""Which inference endpoint runs a request: the GPU one, or the CPU one (ONNX Runtime).

The caller names one (`route=gpu`, `route=cpu`; /classify is always `gpu`) or lets the
orchestrator choose (`smart`, /classify-smart): at most SMART_MAX_CPU_TOKENS tokens go to the
CPU endpoint, more to the GPU. When the endpoint `smart` chose cannot serve, the request
goes to the other one: the GPU endpoint unreachable or backlogged (gpu_availability.py)
sends inputs up to SMART_FALLBACK_MAX_TOKENS to the CPU endpoint, an unreachable CPU
endpoint sends its inputs to the GPU. A GPU job that timed out is retried on the CPU only
when SMART_RETRY_TIMEOUT_ON_CPU allows it. An endpoint the caller named is never swapped.
"""

from dataclasses import dataclass

from contracts import InferenceTarget, Route, RouteChoice, RouteReason, smart_target
from orchestrator.errors import StageError, StageTimeoutError, StageUnavailableError
from orchestrator.gpu_availability import GpuAvailability, GpuTrouble
from orchestrator.stage_client import StageClient

# Routes `smart` chose on tokens alone: the ones a failure may send to the other endpoint.
_CHOSEN_ON_SIZE = (RouteReason.SHORT_TEXT, RouteReason.LONG_TEXT)


@dataclass(frozen=True)
class RoutingPolicy:
    max_cpu_tokens: int
    fallback_max_tokens: int
    has_cpu: bool
    retry_timeout_on_cpu: bool = False

    def choose(self, choice: RouteChoice, tokens: int, gpu_trouble: GpuTrouble | None) -> Route:
        if choice is not RouteChoice.SMART:
            target = InferenceTarget(choice.value)
            return Route(
                endpoint=target,
                reason=RouteReason.REQUESTED,
                detail=f"route={choice.value}",
                tokens=tokens,
            )
        if not self.has_cpu:
            return self._route(
                InferenceTarget.GPU,
                RouteReason.NO_CPU_ENDPOINT,
                "CPU_INFERENCE_ENDPOINT is not set",
                tokens,
            )
        if smart_target(tokens, self.max_cpu_tokens) is InferenceTarget.CPU:
            return self._route(
                InferenceTarget.CPU,
                RouteReason.SHORT_TEXT,
                f"{tokens} tokens <= SMART_MAX_CPU_TOKENS={self.max_cpu_tokens}",
                tokens,
            )
        if gpu_trouble is not None and tokens <= self.fallback_max_tokens:
            return self._to_cpu_instead(gpu_trouble.reason, gpu_trouble.detail, tokens)
        return self._route(
            InferenceTarget.GPU,
            RouteReason.LONG_TEXT,
            f"{tokens} tokens > SMART_MAX_CPU_TOKENS={self.max_cpu_tokens}",
            tokens,
        )

    def fallback(self, route: Route, error: StageError) -> Route | None:
        """Where a request goes after its endpoint failed with `error`, or None: it fails."""
        if route.reason not in _CHOSEN_ON_SIZE:
            return None  # the caller's choice, or a fallback already
        if route.endpoint is InferenceTarget.CPU:
            if not isinstance(error, StageUnavailableError):
                return None
            return self._route(
                InferenceTarget.GPU,
                RouteReason.CPU_UNREACHABLE,
                f"the CPU endpoint could not serve ({error.message})",
                route.tokens,
            )
        if not self.has_cpu or route.tokens > self.fallback_max_tokens:
            return None
        if isinstance(error, StageUnavailableError):
            return self._to_cpu_instead(
                RouteReason.GPU_UNREACHABLE,
                f"the GPU endpoint could not serve ({error.message})",
                route.tokens,
            )
        if isinstance(error, StageTimeoutError) and self.retry_timeout_on_cpu:
            return self._to_cpu_instead(
                RouteReason.GPU_TIMED_OUT,
                f"the GPU job timed out ({error.message}; SMART_RETRY_TIMEOUT_ON_CPU=true)",
                route.tokens,
            )
        return None

    def _to_cpu_instead(self, reason: RouteReason, why: str, tokens: int) -> Route:
        return self._route(
            InferenceTarget.CPU,
            reason,
            f"{why}; {tokens} tokens <= SMART_FALLBACK_MAX_TOKENS={self.fallback_max_tokens}",
            tokens,
        )

    def _route(self, target: InferenceTarget, reason: RouteReason, detail: str, tokens: int):
        return Route(
            endpoint=target,
            reason=reason,
            detail=detail,
            tokens=tokens,
            max_cpu_tokens=self.max_cpu_tokens,
        )


class InferenceRouter:
    """The inference stage's endpoints, and the policy that sends each request to one."""

    def __init__(
        self,
        gpu: StageClient,
        cpu: StageClient | None,
        policy: RoutingPolicy,
        gpu_availability: GpuAvailability | None = None,
    ):
        self._endpoints = {InferenceTarget.GPU: gpu}
        if cpu is not None:
            self._endpoints[InferenceTarget.CPU] = cpu
        self.policy = policy
        self._gpu_availability = gpu_availability

    @property
    def has_cpu(self) -> bool:
        return InferenceTarget.CPU in self._endpoints

    def endpoint(self, target: InferenceTarget) -> StageClient:
        return self._endpoints[target]

    async def gpu_trouble(self) -> GpuTrouble | None:
        if self._gpu_availability is None:
            return None
        return await self._gpu_availability.trouble()

    def failed(self, target: InferenceTarget, error: StageError) -> None:
        """An endpoint's job failed: an unreachable GPU is skipped until it is read again."""
        if (
            target is InferenceTarget.GPU
            and isinstance(error, StageUnavailableError)
            and self._gpu_availability is not None
        ):
            detail = f"the GPU endpoint could not serve ({error.message})"
            self._gpu_availability.unreachable(detail)
