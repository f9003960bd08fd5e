"""The layouts compared: which endpoints a request visits, and what each job runs on them.

- `split`: the three endpoints as this project deploys them. Preprocess (CPU worker), then
  inference (GPU worker), then postprocess (CPU worker): three jobs, three queue hops.
- `gpu-only`: one GPU endpoint whose job runs all three stages. Its execution time is the sum
  of the measured stage times (the CPU stages take about as long on a GPU worker's CPU), billed
  at the GPU price; its CPU phases take turns on the worker like the CPU workers' do, its GPU
  phase is batched like the inference worker's. Its cold start defaults to the inference
  worker's (the same model load; the tokenizer adds little).
- `smart` (the /classify-smart issue: routing each request by what it needs) is not here yet.
  The hook: write a function like `split` below that takes the endpoint configurations and
  returns a Layout whose `route` picks, per request, the hops it makes (a request may skip an
  endpoint), then add it to LAYOUTS; the sweep, the table and the plot pick it up.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts import StagePrices
from cost_model.simulator import CPU, GPU, Dispatch, EndpointConfig, Hop, Scaler
from cost_model.stage_times import StageSample

ENDPOINTS = ("preprocess", "inference", "postprocess", "gpu_only")


@dataclass(frozen=True)
class Layout:
    name: str
    endpoints: tuple[EndpointConfig, ...]
    route: Callable[[StageSample], list[Hop]]


def split(configs: Mapping[str, EndpointConfig]) -> Layout:
    def route(sample: StageSample) -> list[Hop]:
        return [
            (0, ((CPU, sample.preprocess_s),)),
            (1, ((GPU, sample.inference_s),)),
            (2, ((CPU, sample.postprocess_s),)),
        ]

    endpoints = (configs["preprocess"], configs["inference"], configs["postprocess"])
    return Layout("split", endpoints, route)


def gpu_only(configs: Mapping[str, EndpointConfig]) -> Layout:
    def route(sample: StageSample) -> list[Hop]:
        cpu_before, gpu, cpu_after = sample.preprocess_s, sample.inference_s, sample.postprocess_s
        return [(0, ((CPU, cpu_before), (GPU, gpu), (CPU, cpu_after)))]

    return Layout("gpu-only", (configs["gpu_only"],), route)


LAYOUTS: dict[str, Callable[[Mapping[str, EndpointConfig]], Layout]] = {
    "split": split,
    "gpu-only": gpu_only,
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
