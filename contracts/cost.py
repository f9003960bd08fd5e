"""What one request's jobs cost to execute: billed seconds per stage times that stage's price.

This is the execution cost of the request alone: Runpod also bills each worker's cold start
and its idle timeout after its last job, which depend on traffic, not on one request (`make
cost` simulates them). A job shared by several requests (coalescing) is shared out by texts.
"""

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field

from contracts.endpoints import STAGE_ENDPOINTS, Endpoint
from contracts.errors import Stage
from contracts.pricing import StagePrices
from contracts.routing import InferenceTarget
from contracts.timing import StageTiming, Timings

STAGES = tuple(Stage(e.value) for e in STAGE_ENDPOINTS)
# Microseconds, and a billionth of a dollar: finer than any price, coarser than float noise.
_SECONDS_DIGITS = 6
_USD_DIGITS = 9


class StageCost(BaseModel):
    # The job's seconds that fall to this request: the hosted API's executionTime (or,
    # from Runpod's local API server, which reports none, the round trip), times its share.
    billed_s: float
    usd_per_s: float
    usd: float


class RequestCost(BaseModel):
    currency: Literal["USD"] = "USD"
    # "execution_time" when every stage reported Runpod's executionTime, else "round_trip".
    basis: Literal["execution_time", "round_trip"]
    preprocess: StageCost | None = None
    inference: StageCost | None = None
    postprocess: StageCost | None = None
    # LAYOUT=single: the all-stage job, at the GPU-only price (stages run in process are
    # billed as part of the worker that ran them, so they have no line of their own).
    single: StageCost | None = Field(default=None, exclude_if=lambda v: v is None)
    # Its CPU twin (SINGLE_CPU_ENDPOINT), at the CPU inference endpoint's price.
    single_cpu: StageCost | None = Field(default=None, exclude_if=lambda v: v is None)
    total_usd: float
    # The same seconds with every stage on the GPU worker's price: the GPU-only layout.
    gpu_only_usd: float


# The all-stage endpoints (LAYOUT=single): each a hop of its own, at its hardware's price.
ALL_STAGE_HOPS = (Stage.SINGLE, Stage.SINGLE_CPU)


def priced_as(stage: str, inference_on: InferenceTarget) -> Endpoint:
    """The endpoint whose price a stage's jobs pay: the inference stage run on the CPU
    inference endpoint pays Endpoint.INFERENCE_CPU's, and so does the all-stage CPU one."""
    if stage == Stage.SINGLE_CPU or (
        stage == Stage.INFERENCE and inference_on is InferenceTarget.CPU
    ):
        return Endpoint.INFERENCE_CPU
    return Endpoint(stage)


def billed_seconds(timing: StageTiming) -> float:
    ms = timing.execution_ms if timing.execution_ms is not None else timing.round_trip_ms
    return ms / 1000


def request_cost(
    timings: Timings,
    prices: StagePrices,
    share: float = 1.0,
    stage_shares: Mapping[Stage, float] | None = None,
    inference_on: InferenceTarget = InferenceTarget.GPU,
) -> RequestCost:
    """The request's cost from its stages' timings. `share` is its part of shared jobs, and
    `stage_shares` its part of one stage's jobs where that differs (the inference stage,
    when a shared run sent some requests to the CPU endpoint and some to the GPU one).
    `inference_on` picks the inference price: the GPU endpoint's or the CPU one's."""
    stages: dict[Stage, StageCost] = {}
    basis: Literal["execution_time", "round_trip"] = "execution_time"
    for stage in (*STAGES, *ALL_STAGE_HOPS):
        timing: StageTiming | None = getattr(timings, stage)
        if timing is None or timing.in_process:
            continue
        if timing.execution_ms is None:
            basis = "round_trip"
        seconds = billed_seconds(timing) * (stage_shares or {}).get(stage, share)
        price = prices.for_stage(
            "gpu_only" if stage is Stage.SINGLE else priced_as(stage, inference_on)
        )
        stages[stage] = StageCost(
            billed_s=round(seconds, _SECONDS_DIGITS),
            usd_per_s=price,
            usd=round(seconds * price, _USD_DIGITS),
        )
    total_s = sum(c.billed_s for c in stages.values())
    return RequestCost(
        basis=basis,
        **stages,
        total_usd=round(sum(c.usd for c in stages.values()), _USD_DIGITS),
        gpu_only_usd=round(total_s * prices.gpu_only, _USD_DIGITS),
    )
