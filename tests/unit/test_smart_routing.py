"""/classify-smart and /classify-batch?route=...: which inference endpoint runs a request.

The routing policy and the GPU endpoint's health reading, checked on their own (no
processes, a fake clock). The routes against real local workers are in
tests/stack/test_smart_routing_workers.py.
"""

import asyncio

import httpx
import pytest

from contracts import InferenceTarget, RouteChoice, RouteReason, Stage
from orchestrator.errors import (
    StageFailedError,
    StageRejectedInputError,
    StageTimeoutError,
    StageUnavailableError,
)
from orchestrator.gpu_availability import GpuAvailability, GpuTrouble
from orchestrator.routing import RoutingPolicy
from orchestrator.stage_client import HealthReading

SHORT = "A short and happy note."
# Far more tokens than any threshold below, and than one window of the tiny model.
LONG = "The first part was great but the ending was terrible. " * 60
POLICY = RoutingPolicy(max_cpu_tokens=100, fallback_max_tokens=1000, has_cpu=True)
DOWN = StageUnavailableError(Stage.INFERENCE, "cannot reach the endpoint set by X")


# The policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "endpoint", "reason"),
    [
        (5, InferenceTarget.CPU, RouteReason.SHORT_TEXT),
        (100, InferenceTarget.CPU, RouteReason.SHORT_TEXT),  # at the threshold: CPU
        (101, InferenceTarget.GPU, RouteReason.LONG_TEXT),
    ],
)
def test_smart_sends_small_inputs_to_the_cpu_and_large_ones_to_the_gpu(tokens, endpoint, reason):
    route = POLICY.choose(RouteChoice.SMART, tokens, None)
    assert (route.endpoint, route.reason, route.tokens) == (endpoint, reason, tokens)
    assert route.max_cpu_tokens == 100 and "SMART_MAX_CPU_TOKENS=100" in route.detail


@pytest.mark.parametrize("choice", [RouteChoice.GPU, RouteChoice.CPU])
def test_an_endpoint_the_caller_names_is_used_whatever_the_size(choice):
    trouble = GpuTrouble(RouteReason.GPU_UNREACHABLE, "down")
    for tokens in (1, 10_000):
        route = POLICY.choose(choice, tokens, trouble)
        assert route.endpoint.value == choice.value and route.reason is RouteReason.REQUESTED
        assert POLICY.fallback(route, DOWN) is None  # and never swapped


def test_without_a_cpu_endpoint_smart_uses_the_gpu_and_says_why():
    policy = RoutingPolicy(max_cpu_tokens=100, fallback_max_tokens=1000, has_cpu=False)
    route = policy.choose(RouteChoice.SMART, 5, None)
    assert (route.endpoint, route.reason) == (InferenceTarget.GPU, RouteReason.NO_CPU_ENDPOINT)
    assert "CPU_INFERENCE_ENDPOINT" in route.detail


@pytest.mark.parametrize("reason", [RouteReason.GPU_UNREACHABLE, RouteReason.GPU_BACKLOG])
def test_when_the_gpu_cannot_serve_medium_inputs_go_to_the_cpu_and_long_ones_do_not(reason):
    trouble = GpuTrouble(reason, "the GPU endpoint has 3 jobs queued and no ready worker")
    medium = POLICY.choose(RouteChoice.SMART, 1000, trouble)
    assert (medium.endpoint, medium.reason) == (InferenceTarget.CPU, reason)
    assert trouble.detail in medium.detail and "SMART_FALLBACK_MAX_TOKENS=1000" in medium.detail
    long = POLICY.choose(RouteChoice.SMART, 1001, trouble)
    assert (long.endpoint, long.reason) == (InferenceTarget.GPU, RouteReason.LONG_TEXT)


def test_a_gpu_job_that_failed_to_reach_its_endpoint_is_run_again_on_the_cpu():
    route = POLICY.choose(RouteChoice.SMART, 500, None)
    again = POLICY.fallback(route, DOWN)
    assert again is not None
    assert (again.endpoint, again.reason) == (InferenceTarget.CPU, RouteReason.GPU_UNREACHABLE)
    assert POLICY.fallback(again, DOWN) is None  # a fallback does not fall back again
    too_long = POLICY.choose(RouteChoice.SMART, 1001, None)
    assert POLICY.fallback(too_long, DOWN) is None


def test_a_gpu_timeout_is_retried_on_the_cpu_only_when_allowed():
    timeout = StageTimeoutError(Stage.INFERENCE, "no result within 120 s")
    route = POLICY.choose(RouteChoice.SMART, 500, None)
    assert POLICY.fallback(route, timeout) is None
    allowed = RoutingPolicy(100, 1000, has_cpu=True, retry_timeout_on_cpu=True)
    again = allowed.fallback(route, timeout)
    assert again is not None and again.reason is RouteReason.GPU_TIMED_OUT


def test_an_unreachable_cpu_endpoint_sends_its_inputs_to_the_gpu():
    route = POLICY.choose(RouteChoice.SMART, 5, None)
    again = POLICY.fallback(route, DOWN)
    assert again is not None
    assert (again.endpoint, again.reason) == (InferenceTarget.GPU, RouteReason.CPU_UNREACHABLE)


@pytest.mark.parametrize(
    "error",
    [
        StageRejectedInputError(Stage.INFERENCE, "duplicate label", []),
        StageFailedError(Stage.INFERENCE, "the worker raised KeyError"),
    ],
)
def test_a_failure_of_the_input_or_the_model_is_not_retried_elsewhere(error):
    for tokens in (5, 500):
        assert POLICY.fallback(POLICY.choose(RouteChoice.SMART, tokens, None), error) is None


# The GPU endpoint's health ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HealthEndpoint:
    """A stage client's /health reading, made of the answer the test sets."""

    def __init__(self, hosted: bool) -> None:
        self.hosted = hosted
        self.answer: httpx.Response | Exception = httpx.Response(200, json={})
        self.calls = 0

    async def health(self, timeout_s: float) -> HealthReading:
        self.calls += 1
        if isinstance(self.answer, Exception):
            return HealthReading(self.hosted)
        return HealthReading.from_response(self.answer, self.hosted)


def health(in_queue: int, **workers: int) -> httpx.Response:
    return httpx.Response(200, json={"jobs": {"inQueue": in_queue}, "workers": workers})


def test_a_queue_with_no_ready_worker_is_a_backlog_once_it_lasts():
    endpoint, clock = HealthEndpoint(hosted=True), FakeClock()
    availability = GpuAvailability(endpoint, max_queue_s=10, interval_s=5, clock=clock)  # type: ignore[arg-type]

    async def readings() -> list[GpuTrouble | None]:
        seen = []
        endpoint.answer = health(3, idle=0, running=0, throttled=2)
        seen.append(await availability.trouble())  # first seen: not yet
        clock.now += 5
        seen.append(await availability.trouble())
        clock.now += 5
        seen.append(await availability.trouble())  # 10 s of it: a backlog
        clock.now += 1
        seen.append(await availability.trouble())  # the same reading, not asked again
        clock.now += 5
        endpoint.answer = health(3, idle=1)  # a worker is ready again
        seen.append(await availability.trouble())
        return seen

    first, second, backlog, cached, recovered = asyncio.run(readings())
    assert first is None and second is None and recovered is None
    assert backlog is not None and backlog.reason is RouteReason.GPU_BACKLOG
    assert "3 jobs queued and no ready worker" in backlog.detail
    assert cached == backlog and endpoint.calls == 4


def test_an_empty_queue_is_no_backlog_even_with_no_worker():
    endpoint = HealthEndpoint(hosted=True)
    endpoint.answer = health(0, idle=0, running=0)
    availability = GpuAvailability(endpoint, max_queue_s=0, interval_s=5)  # type: ignore[arg-type]
    assert asyncio.run(availability.trouble()) is None


def test_an_endpoint_that_does_not_answer_is_unreachable_and_a_local_404_is_up():
    endpoint, clock = HealthEndpoint(hosted=False), FakeClock()
    availability = GpuAvailability(endpoint, max_queue_s=0, interval_s=5, clock=clock)  # type: ignore[arg-type]
    endpoint.answer = httpx.ConnectError("refused")
    down = asyncio.run(availability.trouble())
    assert down is not None and down.reason is RouteReason.GPU_UNREACHABLE
    # Runpod's local API server has no /health route.
    clock.now += 5
    endpoint.answer = httpx.Response(404, json={"detail": "Not Found"})
    assert asyncio.run(availability.trouble()) is None


def test_a_failed_job_marks_the_gpu_unreachable_until_it_is_read_again():
    endpoint, clock = HealthEndpoint(hosted=True), FakeClock()
    availability = GpuAvailability(endpoint, max_queue_s=10, interval_s=5, clock=clock)  # type: ignore[arg-type]
    availability.unreachable("the GPU endpoint could not serve (refused)")
    trouble = asyncio.run(availability.trouble())
    assert trouble is not None and trouble.reason is RouteReason.GPU_UNREACHABLE
    assert endpoint.calls == 0
    clock.now += 5
    endpoint.answer = health(0, idle=1)
    assert asyncio.run(availability.trouble()) is None
