"""The endpoints a layout may deploy, and their settings: one value per endpoint name.

- `orchestrator`: the orchestrator's own worker, a Runpod load-balancing endpoint on a CPU
  instance (deploy.toml's default). Requests reach its HTTP server directly, with no queue
  and no queue delay; it holds each request until the endpoints it calls answer, so it is
  busy, and billed, while any request is in flight. With `--orchestrator none` it runs
  elsewhere: it starts at once and bills nothing here, but its work still takes its time.
- `preprocess`, `inference`, `postprocess`: the split's stage endpoints (CPU, GPU, CPU).
- `inference_cpu`: the inference worker on ONNX Runtime on a CPU instance, where the smart
  route sends the requests of few tokens.
- `single`: one GPU endpoint whose job runs all three stages.
- `single_cpu`: the same all-stage handler on ONNX Runtime on a CPU instance: the single
  layout's CPU inference endpoint, beside `single` in single-smart.

`single` and `single_cpu` are the inference workers' hardware and model load, so their price
and cold start follow `inference`'s and `inference_cpu`'s unless given (FOLLOWS).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from contracts import Endpoint, StagePrices
from contracts.pricing import DEFAULT_CPU_USD_PER_S
from cost_model.simulator import Dispatch, EndpointConfig, Scaler

T = TypeVar("T")

# The pipeline's endpoints are contracts' Endpoint; these three are the cost model's own.
ORCHESTRATOR = "orchestrator"
SINGLE = "single"
SINGLE_CPU = "single_cpu"
ENDPOINTS = (ORCHESTRATOR, *(endpoint.value for endpoint in Endpoint), SINGLE, SINGLE_CPU)
LOAD_BALANCERS = frozenset({ORCHESTRATOR})
FOLLOWS = {SINGLE: Endpoint.INFERENCE.value, SINGLE_CPU: Endpoint.INFERENCE_CPU.value}

# A job on a queue-based endpoint waits in Runpod's queue even when a worker is warm: users
# report about 100 ms of delayTime per job against a few ms of work.
DEFAULT_HOP_MS = 100.0
HOP_SOURCE = "Runpod's delayTime per job on warm workers, as users report it: " + (
    "runpod-workers/worker-infinity-embedding#5"
)
# The orchestrator's own time per call it makes, as `make benchmark` measures it ("cost per
# hop": /classify against the same jobs sent to the workers directly) on a 2-core CPU.
DEFAULT_ORCHESTRATOR_HOP_MS = 1.7
ORCHESTRATOR_HOP_SOURCE = "make benchmark's orchestrator cost per hop, on a 2-core CPU"


def source(value: float, default: float, default_source: str, option: str) -> str:
    """Where a figure comes from: the default's source, or the option that set it."""
    return default_source if value == default else f"set by {option}"


# Runpod's console defaults for every endpoint (idle timeout, workers, the queue delay
# scaler); the workers' MAX_CONCURRENCY default; their CPU work runs one job at a time.
DEFAULTS: dict[str, object] = {
    "image_pull": 0.0,
    "idle_timeout": 5.0,
    "workers_min": 0,
    "workers_max": 3,
    "concurrency": 8,
    "cpu_lanes": 1,
    "scaler": "queue_delay",
    "scaler_value": 4.0,
    "dispatch": "pack",
}
UNLIMITED = 1_000_000
# The orchestrator as deploy.toml deploys it: a load balancer scaled by request count,
# spreading requests over its workers. A worker holds any number of requests: its admission
# limit (MAX_IN_FLIGHT) answers 429 beyond it, which this model leaves out.
ORCHESTRATOR_DEFAULTS: dict[str, object] = {
    "concurrency": UNLIMITED,
    "scaler": "request_count",
    "scaler_value": 4.0,
    "dispatch": "spread",
}


def defaults(setting: str) -> dict[str, object]:
    """Each endpoint's default for `setting` (a key of DEFAULTS)."""
    return {
        name: ORCHESTRATOR_DEFAULTS.get(setting, DEFAULTS[setting])
        if name == ORCHESTRATOR
        else DEFAULTS[setting]
        for name in ENDPOINTS
    }


class OptionValueError(ValueError):
    """A per-endpoint value a converter refuses; the message says what it expects."""


def named(values: Sequence[str] | None, convert: Callable[[str], T], option: str) -> dict[str, T]:
    """The endpoints an option names, with their values: `--option 5` names every endpoint,
    `--option inference=30` one; later ones win."""
    chosen: dict[str, T] = {}
    for value in values or []:
        name, _, text = value.rpartition("=")
        name = name.replace("-", "_")
        if name and name not in ENDPOINTS:
            raise ValueError(f"{option}: unknown endpoint {name!r} (one of {', '.join(ENDPOINTS)})")
        try:
            parsed = convert(text)
        except ValueError as exc:
            reason = str(exc) if isinstance(exc, OptionValueError) else "not a number"
            raise ValueError(f"{option}: {text!r} is {reason}") from None
        for target in [name] if name else ENDPOINTS:
            chosen[target] = parsed
    return chosen


def resolve(given: Mapping[str, T], fallback: Mapping[str, T]) -> dict[str, T]:
    """A value per endpoint: the given one, else the given one of the endpoint it follows
    (FOLLOWS), else `fallback`'s."""
    values = {**fallback, **given}
    for name, leader in FOLLOWS.items():
        if name not in given and leader in values:
            values[name] = values[leader]
    return values


def default_prices() -> dict[str, float]:
    """USD per worker-second: the shared price table's (contracts/pricing.py), and a CPU
    worker's for the orchestrator."""
    prices = StagePrices()
    return {ORCHESTRATOR: DEFAULT_CPU_USD_PER_S} | {e.value: prices.for_stage(e) for e in Endpoint}


@dataclass(frozen=True)
class EndpointSettings:
    """Every endpoint's settings, each a value per endpoint name (ENDPOINTS)."""

    prices: Mapping[str, float]
    cold_start_s: Mapping[str, float]
    image_pull_s: Mapping[str, float]
    idle_timeout_s: Mapping[str, float]
    workers_min: Mapping[str, int]
    workers_max: Mapping[str, int]
    concurrency: Mapping[str, int]
    cpu_lanes: Mapping[str, int]
    scaler: Mapping[str, Scaler]
    scaler_value: Mapping[str, float]
    dispatch: Mapping[str, Dispatch]
    active_discount: float = 0.0
    # False: the orchestrator runs elsewhere (`--orchestrator none`): no cold start, no bill.
    orchestrator_billed: bool = True

    def configs(self) -> dict[str, EndpointConfig]:
        configs = {}
        for name in ENDPOINTS:
            elsewhere = name == ORCHESTRATOR and not self.orchestrator_billed
            cold_start_s = self.cold_start_s[name] + self.image_pull_s[name]
            configs[name] = EndpointConfig(
                name=name,
                price_usd_per_s=0.0 if elsewhere else self.prices[name],
                cold_start_s=0.0 if elsewhere else cold_start_s,
                idle_timeout_s=self.idle_timeout_s[name],
                workers_min=self.workers_min[name],
                workers_max=self.workers_max[name],
                concurrency=self.concurrency[name],
                cpu_lanes=self.cpu_lanes[name],
                scaler=self.scaler[name],
                dispatch=self.dispatch[name],
                scaler_value=self.scaler_value[name],
                active_discount=self.active_discount,
                load_balancer=name in LOAD_BALANCERS,
            )
        return configs
