"""What a request costs, the metrics that watch the pipeline, and one request followed through
all four logs."""

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import StagePrices, StageTiming, Timings, request_cost


def test_a_requests_cost_is_its_billed_seconds_times_each_stages_price():
    timings = Timings(
        preprocess=StageTiming(round_trip_ms=50, execution_ms=20),
        inference=StageTiming(round_trip_ms=90, execution_ms=40),
        postprocess=StageTiming(round_trip_ms=30, execution_ms=10),
        total_ms=170,
    )
    cost = request_cost(timings, StagePrices())
    assert cost.basis == "execution_time"
    # 0.020 s x $0.0002 + 0.040 s x $0.0015 + 0.010 s x $0.0002 = $0.000066
    assert cost.preprocess.usd == pytest.approx(0.000004)
    assert cost.inference.usd == pytest.approx(0.00006)
    assert cost.total_usd == pytest.approx(0.000066)
    # The same 0.070 s on the GPU worker: $0.000105.
    assert cost.gpu_only_usd == pytest.approx(0.000105)


def test_a_shared_job_is_shared_out_and_the_round_trip_stands_in_locally():
    timings = Timings(inference=StageTiming(round_trip_ms=100), total_ms=100)
    cost = request_cost(timings, StagePrices(inference=0.001), share=0.25)
    assert cost.basis == "round_trip"
    assert cost.inference.billed_s == pytest.approx(0.025)
    assert cost.total_usd == pytest.approx(0.000025)
    assert cost.preprocess is None


@pytest.fixture(scope="module")
def client(local_stack):
    with httpx.Client(base_url=local_stack.url, timeout=60) as http:
        yield http


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/classify", {"text": "A fine day out."}),
        ("/classify-batch", [{"text": "A fine day out."}, {"text": "Awful weather."}]),
        ("/cpu/preprocess", {"text": "A fine day out."}),
        ("/gpu/inference", {"cleaned_text": "A fine day out.", "word_count": 4}),
        ("/cpu/postprocess", {"predictions": [{"label": "A", "confidence": 1.0}]}),
    ],
)
def test_every_pipeline_answer_carries_its_cost(client, route, body):
    answer = client.post(route, json=body).json()
    cost = answer["cost"]
    stages = [s for s in ("preprocess", "inference", "postprocess") if answer["timings"][s]]
    assert cost["basis"] == "round_trip"  # Runpod's local API server reports no executionTime
    for stage in stages:
        assert cost[stage]["billed_s"] == pytest.approx(
            answer["timings"][stage]["round_trip_ms"] / 1000, abs=1e-6
        )
    assert cost["total_usd"] == pytest.approx(sum(cost[s]["usd"] for s in stages), abs=1e-9)
    assert cost["gpu_only_usd"] >= cost["total_usd"]


def scrape(client) -> dict[str, float]:
    samples = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def test_metrics_are_scraped_after_requests(client):
    client.post("/classify", json={"text": "A fine day out."})
    client.post("/classify", json={"text": "hi"})  # 422
    metrics = scrape(client)
    assert metrics["orchestrator_requests_total{route=/classify,status=200}"] >= 1
    assert metrics["orchestrator_requests_total{route=/classify,status=422}"] >= 1
    for stage in ("preprocess", "inference", "postprocess"):
        assert metrics[f"orchestrator_stage_jobs_total{{stage={stage}}}"] >= 1
        assert metrics[f"orchestrator_stage_seconds_count{{part=round_trip,stage={stage}}}"] >= 1
        assert metrics[f"orchestrator_cost_usd_total{{stage={stage}}}"] > 0
    assert metrics["orchestrator_inference_windows_per_job_count{}"] >= 1
    assert metrics["orchestrator_gpu_only_cost_usd_total{}"] > 0
    assert "orchestrator_requests_in_flight{}" in metrics


def test_stage_errors_are_counted_by_type(client):
    duplicate = [{"label": "A", "confidence": 0.5}, {"label": "A", "confidence": 0.5}]
    client.post("/cpu/postprocess", json={"predictions": duplicate})
    metrics = scrape(client)
    key = "orchestrator_stage_errors_total{error_type=invalid_input,stage=postprocess}"
    assert metrics[key] >= 1


def test_a_request_id_is_in_each_workers_log_line_for_its_job(local_stack, client):
    request_id = f"trace-{time.monotonic_ns()}"
    response = client.post(
        "/classify", json={"text": "Follow me through."}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    # /classify runs on the GPU inference worker: the CPU one sees nothing of it.
    workers = [w for w in local_stack.workers if w.name != "cpu_inference"]
    services = [*workers, local_stack.orchestrator]
    while time.monotonic() < deadline:
        found = {s.name for s in services if any(request_id in line for line in s.output)}
        if len(found) == 4:
            break
        time.sleep(0.05)
    assert found == {"preprocess", "inference", "postprocess", "orchestrator"}
    for worker in workers:
        [line] = [line for line in worker.output if request_id in line]
        assert f"{worker.name} job " in line and "completed in" in line
        assert "Follow me" not in line
