"""The layouts' pieces in this process: a stage run on a thread pool in the workers' own job
wrapper, the all-stage job over the pipeline, and the single layout's errors read back as the
same StageError (tests/stack/test_layouts.py has them over real processes)."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from contracts import (
    ErrorType,
    FieldError,
    InferenceTarget,
    RouteChoice,
    Stage,
    StageTiming,
    WorkerError,
)
from contracts.errors import InputRuleError
from orchestrator.errors import (
    StageError,
    StageFailedError,
    StageOverloadedError,
    StageRejectedInputError,
    StageTimeoutError,
    StageUnavailableError,
)
from orchestrator.in_process import CpuRecorder, InProcessStage, pooled
from orchestrator.metrics import Metrics
from orchestrator.pipeline import Pipeline
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.single_layout import SinglePipeline, error_from_wire, error_wire
from orchestrator.stage_client import HealthReading
from single_worker.job import classify_job
from tests.unit.test_pipeline_in_process import stages


def run_in_pool(work, on_cpu: CpuRecorder | None = None) -> tuple[Any, StageTiming]:
    async def go():
        with ThreadPoolExecutor(1, thread_name_prefix="stage-pool") as pool:
            handler = pooled(Stage.POSTPROCESS, work, pool, on_cpu)
            return await InProcessStage(Stage.POSTPROCESS, handler).run(
                {"items": [], "request_ids": ["r1"]}
            )

    return asyncio.run(go())


def in_process_cpu(metrics: Metrics, stage: Stage) -> float:
    value = metrics.registry.get_sample_value(
        "orchestrator_in_process_cpu_seconds_total", {"stage": stage.value}
    )
    return value or 0.0


def busy_for(cpu_seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < cpu_seconds:
        pass


def test_each_stage_call_counts_its_own_threads_cpu_time_on_metrics():
    metrics = Metrics()

    def work(job_input):
        busy_for(0.05)
        time.sleep(0.3)  # waiting is not CPU time
        return {"ok": True}

    run_in_pool(work, metrics.stage_cpu)
    first = in_process_cpu(metrics, Stage.POSTPROCESS)
    assert 0.05 <= first < 0.3
    run_in_pool(work, metrics.stage_cpu)
    assert in_process_cpu(metrics, Stage.POSTPROCESS) >= first + 0.05
    assert in_process_cpu(metrics, Stage.PREPROCESS) == 0.0
    assert 'orchestrator_in_process_cpu_seconds_total{stage="postprocess"}' in (
        metrics.exposition().decode()
    )


def test_a_failed_stage_call_counts_its_cpu_time_too():
    metrics = Metrics()

    def work(job_input):
        busy_for(0.02)
        raise RuntimeError("broken")

    with pytest.raises(StageFailedError):
        run_in_pool(work, metrics.stage_cpu)
    assert in_process_cpu(metrics, Stage.POSTPROCESS) >= 0.02


def test_a_stage_runs_on_the_pool_never_on_the_event_loop():
    seen = {}

    def work(job_input):
        seen["thread"] = threading.current_thread().name
        seen["input"] = job_input
        return {"ok": True}

    output, timing = run_in_pool(work)
    assert output == {"ok": True} and timing.in_process
    assert seen["thread"].startswith("stage-pool")
    # The request ids are taken out, as a worker's handler takes them.
    assert seen["input"] == {"items": []}


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (InputRuleError("Duplicate label 'A'", field="predictions"), StageRejectedInputError, None),
        (RuntimeError("secret user text"), StageFailedError, "postprocess stage: Internal error"),
    ],
)
def test_a_stage_failure_is_the_error_its_worker_would_answer(raised, expected, message):
    def work(job_input):
        raise raised

    with pytest.raises(expected) as caught:
        run_in_pool(work)
    assert caught.value.stage is Stage.POSTPROCESS
    assert "secret" not in caught.value.message
    if message:
        assert caught.value.message.startswith(message)
    assert caught.value.timings[Stage.POSTPROCESS].in_process


@pytest.mark.parametrize(
    "error",
    [
        StageRejectedInputError(
            Stage.PREPROCESS, "Text is refused", [FieldError(field="text", message="no")]
        ),
        StageFailedError(Stage.POSTPROCESS, "broken", ErrorType.MODEL_ERROR),
        StageTimeoutError(Stage.INFERENCE, "too slow"),
        StageUnavailableError(Stage.INFERENCE, "gone"),
        StageOverloadedError(Stage.INFERENCE, "busy"),
    ],
)
def test_the_all_stage_jobs_error_reads_back_as_the_same_error(error: StageError):
    error.timings = {Stage.PREPROCESS: StageTiming(round_trip_ms=1.0, in_process=True)}
    read = error_from_wire(error_wire(error, "req-1"))
    assert read is not None
    assert (type(read), read.stage, read.message, read.details, read.error_type) == (
        type(error),
        error.stage,
        error.message,
        error.details,
        error.error_type,
    )
    assert read.status_code == error.status_code
    assert read.timings == error.timings


@pytest.mark.parametrize("error", ["plain text", WorkerError(error="x", error_type="internal")])
def test_other_errors_are_not_read_as_the_pipelines(error):
    wire = error if isinstance(error, str) else error.to_wire()
    assert error_from_wire(wire) is None


def test_the_all_stage_job_answers_as_classify_and_classify_batch():
    pipeline = Pipeline(stages())
    one = asyncio.run(classify_job(pipeline, {"text": "good"}))
    assert one["classification"]["label"] == "POSITIVE"
    assert "route" not in one and "results" not in one
    many = asyncio.run(classify_job(pipeline, {"texts": ["fine one", "bad"], "route": "smart"}))
    assert [r["classification"]["label"] for r in many["results"]] == ["POSITIVE", "NEGATIVE"]
    assert many["route"]["reason"] == "no_cpu_endpoint"

    on_cpu = asyncio.run(
        classify_job(pipeline, {"texts": ["fine one"], "route": "smart"}, InferenceTarget.CPU)
    )
    assert on_cpu["route"]["endpoint"] == "cpu" and on_cpu["route"]["reason"] == "requested"
    on_gpu = asyncio.run(classify_job(pipeline, {"texts": ["fine one"], "route": "smart"}))
    assert on_cpu["route"]["tokens"] == on_gpu["route"]["tokens"]
    assert on_cpu["results"] == on_gpu["results"]

    refused = asyncio.run(classify_job(pipeline, {"texts": ["good", "refuse me"]}))
    read = error_from_wire(refused["error"])
    assert isinstance(read, StageRejectedInputError) and read.message == "Text is refused"


class StandInSingleEndpoint:
    """The all-stage endpoint run by classify_job over the stand-in stages (or, given
    `fails`, one that answers every job with that error)."""

    def __init__(self, stage: Stage = Stage.SINGLE, fails: StageError | None = None) -> None:
        self.stage = stage
        self.name = stage.value
        self.jobs: list[dict[str, Any]] = []
        self._pipeline = Pipeline(stages())
        self._fails = fails

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        self.jobs.append(job_input)
        if self._fails is not None:
            raise self._fails
        job = {k: v for k, v in job_input.items() if k != "request_ids"}
        output = await classify_job(self._pipeline, job)
        if "error" in output:
            exc = error_from_wire(output["error"])
            assert exc is not None
            raise exc
        return output, StageTiming(round_trip_ms=2.0)

    async def health(self, timeout_s: float) -> HealthReading:
        return HealthReading(hosted=False, status_code=200)

    async def drain_cancellations(self) -> None:
        return None


def test_the_single_layout_sends_one_job_per_request_and_fails_requests_alone():
    endpoint = StandInSingleEndpoint()
    outcomes, shared = asyncio.run(
        SinglePipeline(endpoint).classify_many(
            [["good"], ["refuse me"]], ["a", "b"], [RouteChoice.GPU, RouteChoice.SMART]
        )
    )
    assert shared == {}
    assert [job["request_ids"] for job in endpoint.jobs] == [["a"], ["b"]]
    assert [job["route"] for job in endpoint.jobs] == ["gpu", "smart"]
    assert outcomes[0].results[0].classification.label == "POSITIVE"
    assert set(outcomes[0].timings) == {
        Stage.PREPROCESS,
        Stage.INFERENCE,
        Stage.POSTPROCESS,
        Stage.SINGLE,
    }
    assert isinstance(outcomes[1].error, StageRejectedInputError)


def smart_single(cpu: StandInSingleEndpoint) -> tuple[SinglePipeline, StandInSingleEndpoint]:
    """The single layout with its CPU twin; each stand-in text is 3 tokens, and requests of
    at most 3 go to the CPU."""
    gpu = StandInSingleEndpoint()
    policy = RoutingPolicy(max_cpu_tokens=3, fallback_max_tokens=100, has_cpu=True)
    tokens = stages()[Stage.PREPROCESS]
    return SinglePipeline(gpu, router=InferenceRouter(gpu, cpu, policy), tokens=tokens), gpu


def test_the_single_layouts_smart_route_sends_short_requests_to_the_cpu_twin():
    cpu = StandInSingleEndpoint(Stage.SINGLE_CPU)
    pipeline, gpu = smart_single(cpu)
    smart, named = RouteChoice.SMART, RouteChoice.GPU
    outcomes, _ = asyncio.run(
        pipeline.classify_many(
            [["good"], ["fine", "good"], ["good"], ["refuse me"]],
            ["short", "long", "named", "refused"],
            [smart, smart, named, smart],
        )
    )
    short, long, gpu_named, refused = outcomes
    assert [job["request_ids"] for job in cpu.jobs] == [["short"]]
    assert sorted(job["request_ids"][0] for job in gpu.jobs) == ["long", "named"]
    # Each endpoint runs the whole request on its own inference.
    assert {job["route"] for job in cpu.jobs + gpu.jobs} == {"gpu"}
    assert (short.route.endpoint, short.route.reason) == ("cpu", "short_text")
    assert short.route.tokens == 3
    assert (long.route.endpoint, long.route.reason) == ("gpu", "long_text")
    assert gpu_named.route.reason == "requested"
    # The timings and the bill name the hop that ran: the request's own job, in full.
    assert Stage.SINGLE_CPU in short.timings and Stage.SINGLE not in short.timings
    assert short.timings[Stage.INFERENCE].round_trip_ms > 0
    assert short.shares == {Stage.SINGLE_CPU: 1.0}
    assert Stage.SINGLE in long.timings and Stage.SINGLE_CPU not in long.timings
    assert short.results[0].classification.label == "POSITIVE"
    # Refused where the tokens are counted, as the all-stage job would refuse it.
    assert isinstance(refused.error, StageRejectedInputError)


def test_the_single_layouts_smart_route_falls_back_as_the_split_ones_does():
    unreachable = StandInSingleEndpoint(
        Stage.SINGLE_CPU, fails=StageUnavailableError(Stage.SINGLE_CPU, "gone")
    )
    pipeline, gpu = smart_single(unreachable)
    outcomes, _ = asyncio.run(pipeline.classify_many([["good"]], ["a"], [RouteChoice.SMART]))
    [outcome] = outcomes
    assert outcome.error is None and len(unreachable.jobs) == len(gpu.jobs) == 1
    assert (outcome.route.endpoint, outcome.route.reason) == ("gpu", "cpu_unreachable")
    assert Stage.SINGLE in outcome.timings and Stage.SINGLE_CPU not in outcome.timings

    # The caller's own choice is never swapped.
    pipeline, gpu = smart_single(unreachable)
    outcomes, _ = asyncio.run(pipeline.classify_many([["good"]], ["b"], [RouteChoice.CPU]))
    assert isinstance(outcomes[0].error, StageUnavailableError) and gpu.jobs == []


def test_the_cpu_twin_needs_the_tokens_counted():
    gpu, cpu = StandInSingleEndpoint(), StandInSingleEndpoint(Stage.SINGLE_CPU)
    router = InferenceRouter(gpu, cpu, RoutingPolicy(3, 3, has_cpu=True))
    with pytest.raises(ValueError, match="tokens counted"):
        SinglePipeline(gpu, router=router)


def test_the_api_key_is_required_for_the_hosted_endpoints_the_layout_calls_only():
    from pydantic import ValidationError

    from orchestrator.settings import OrchestratorSettings

    with pytest.raises(ValidationError, match="because SINGLE_ENDPOINT names a hosted endpoint"):
        OrchestratorSettings(layout="single", single_endpoint="abc123")
    with pytest.raises(ValidationError, match="because SINGLE_CPU_ENDPOINT names a hosted"):
        OrchestratorSettings(layout="single", single_cpu_endpoint="abc123")
    # Endpoints a layout does not call need no key, and `inline` is no endpoint id.
    inline = OrchestratorSettings(
        layout="inline", preprocess_endpoint="abc123", cpu_inference_endpoint="inline"
    )
    assert inline.hosted_endpoint_variables() == []
    with pytest.raises(ValidationError, match="because INFERENCE_ENDPOINT names"):
        OrchestratorSettings(layout="inline", inference_endpoint="abc123")
