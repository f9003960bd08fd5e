"""The layouts compared: which endpoints a request visits, and what each job runs on them.

- `split`: the three endpoints as this project deploys them. Preprocess (CPU worker), then
  inference (GPU worker), then postprocess (CPU worker): three jobs, three queue hops.
- `gpu-only`: one GPU endpoint whose job runs all three stages. Its execution time is the sum
  of the measured stage times (the CPU stages take about as long on a GPU worker's CPU), billed
  at the GPU price; its CPU phases take turns on the worker like the CPU workers' do, its GPU
  phase is batched like the inference worker's. Its cold start defaults to the inference
  worker's (the same model load; the tokenizer adds little).
- `smart`: /classify-smart. Four endpoints: preprocess (CPU), then either the CPU inference
  endpoint (the inference worker with BACKEND=onnx, on a CPU worker, at the CPU inference
  price) for a request of at most `max_cpu_tokens` tokens (contracts.routing.smart_target),
  or the GPU inference endpoint for a longer one, then postprocess (CPU). A request skips the
  inference endpoint it does not need, so an endpoint no request reaches never starts a worker
  and bills nothing. The CPU endpoint's time is the measured ONNX Runtime time for the
  request's tokens (cpu_inference_times.py), and its work, like any CPU work, runs one job at
  a time on a worker. The GPU's time is the measured inference stage time: those measurements
  carry no token count, so it does not depend on the request's tokens.

A layout's `route` gives, per request (its stage times and its tokens), the hops it makes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts import STAGE_ENDPOINTS, Endpoint, StagePrices
from contracts.routing import InferenceTarget, smart_target
from cost_model.cpu_inference_times import CpuInferenceTimes
from cost_model.simulator import CPU, GPU, Dispatch, EndpointConfig, Hop, Scaler
from cost_model.stage_times import StageSample

# Every endpoint a layout may have: the pipeline's (contracts' Endpoint), and the one GPU
# endpoint of the GPU-only layout.
GPU_ONLY = "gpu_only"
ENDPOINTS = (*(endpoint.value for endpoint in Endpoint), GPU_ONLY)


@dataclass(frozen=True)
class Layout:
    name: str
    endpoints: tuple[EndpointConfig, ...]
    # A request's hops, from its measured stage times and its tokens.
    route: Callable[[StageSample, int], list[Hop]]


@dataclass(frozen=True)
class SmartRouting:
    """What the smart layout routes by: the threshold, and the CPU endpoint's time by tokens."""

    max_cpu_tokens: int
    cpu_inference: CpuInferenceTimes


def split(configs: Mapping[str, EndpointConfig], routing: SmartRouting | None = None) -> Layout:
    def route(sample: StageSample, tokens: int) -> list[Hop]:
        return [
            (0, ((CPU, sample.preprocess_s),)),
            (1, ((GPU, sample.inference_s),)),
            (2, ((CPU, sample.postprocess_s),)),
        ]

    endpoints = tuple(configs[endpoint] for endpoint in STAGE_ENDPOINTS)
    return Layout("split", endpoints, route)


def gpu_only(configs: Mapping[str, EndpointConfig], routing: SmartRouting | None = None) -> Layout:
    def route(sample: StageSample, tokens: int) -> list[Hop]:
        cpu_before, gpu, cpu_after = sample.preprocess_s, sample.inference_s, sample.postprocess_s
        return [(0, ((CPU, cpu_before), (GPU, gpu), (CPU, cpu_after)))]

    return Layout("gpu-only", (configs[GPU_ONLY],), route)


def smart(configs: Mapping[str, EndpointConfig], routing: SmartRouting | None = None) -> Layout:
    if routing is None:
        raise ValueError("the smart layout needs its routing: threshold and CPU inference times")

    def route(sample: StageSample, tokens: int) -> list[Hop]:
        if smart_target(tokens, routing.max_cpu_tokens) is InferenceTarget.CPU:
            inference = (1, ((CPU, routing.cpu_inference.seconds(tokens)),))
        else:
            inference = (2, ((GPU, sample.inference_s),))
        return [(0, ((CPU, sample.preprocess_s),)), inference, (3, ((CPU, sample.postprocess_s),))]

    endpoints = (
        configs[Endpoint.PREPROCESS],
        configs[Endpoint.INFERENCE_CPU],
        configs[Endpoint.INFERENCE],
        configs[Endpoint.POSTPROCESS],
    )
    return Layout("smart", endpoints, route)


LAYOUTS: dict[str, Callable[[Mapping[str, EndpointConfig], SmartRouting | None], Layout]] = {
    "split": split,
    "gpu-only": gpu_only,
    "smart": smart,
}


@dataclass(frozen=True)
class EndpointSettings:
    """Every endpoint's settings, each a value per endpoint name (ENDPOINTS)."""

    prices: StagePrices
    cold_start_s: Mapping[str, float]
    image_pull_s: Mapping[str, float]
    idle_timeout_s: Mapping[str, float]
    workers_min: Mapping[str, int]
    workers_max: Mapping[str, int]
    concurrency: Mapping[str, int]
    cpu_lanes: Mapping[str, int]
    scaler: Scaler = "queue_delay"
    scaler_value: float = 4.0
    active_discount: float = 0.0
    dispatch: Dispatch = "pack"

    def configs(self) -> dict[str, EndpointConfig]:
        return {
            name: EndpointConfig(
                name=name,
                price_usd_per_s=self.prices.for_stage(name),
                cold_start_s=self.cold_start_s[name] + self.image_pull_s[name],
                idle_timeout_s=self.idle_timeout_s[name],
                workers_min=self.workers_min[name],
                workers_max=self.workers_max[name],
                concurrency=self.concurrency[name],
                cpu_lanes=self.cpu_lanes[name],
                scaler=self.scaler,
                dispatch=self.dispatch,
                scaler_value=self.scaler_value,
                active_discount=self.active_discount,
            )
            for name in ENDPOINTS
        }
