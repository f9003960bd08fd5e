"""/classify-smart and /classify-batch?route=...: the routes against the session's real local
workers (the fourth is the inference worker on ONNX Runtime), with a stand-in of the hosted
API only for what cannot happen locally: a GPU endpoint with jobs queued and no ready
worker, and a GPU job that never finishes. The policy alone: tests/unit/test_smart_routing.py.
"""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import Route, RouteChoice, Stage
from orchestrator.app import create_app
from orchestrator.pipeline import Pipeline
from orchestrator.routing import InferenceRouter
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import OrchestratorSettings
from scripts.local_stack import free_port
from tests.fake_runpod import API_KEY, serve_fake_runpod
from tests.stack.test_coalescing import stage_endpoints, worker_urls
from tests.unit.test_smart_routing import LONG, POLICY, SHORT

# Against the real local workers ----------------------------------------------------------


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def orchestrator(local_stack):
    """An orchestrator in this process over the session's real workers, with settings of
    the test's own; the endpoints named in `overrides` replace the local ones."""
    urls = worker_urls(local_stack)

    def make(**overrides) -> TestClient:
        values = {
            "preprocess_endpoint": urls["preprocess"],
            "inference_endpoint": urls["inference"],
            "postprocess_endpoint": urls["postprocess"],
            "cpu_inference_endpoint": urls["cpu_inference"],
            "coalesce_wait_ms": 0,
            **overrides,
        }
        return TestClient(create_app(OrchestratorSettings(**values)))

    return make


@pytest.fixture(scope="module")
def fake() -> Iterator:
    with serve_fake_runpod(free_port()) as server:
        yield server


def probabilities(answer: dict) -> dict[str, float]:
    return {p["label"]: p["confidence"] for p in answer["classification"]["all_predictions"]}


@pytest.mark.slow
@pytest.mark.parametrize("text", [SHORT, "Would buy again 😊", "It's okay. Not the best."])
def test_classify_smart_answers_as_classify_does(local_stack, text):
    with httpx.Client(base_url=local_stack.url, timeout=60) as client:
        smart = client.post("/classify-smart", json={"text": text})
        plain = client.post("/classify", json={"text": text}).json()
    assert smart.status_code == 200, smart.text
    answer = smart.json()
    # A short text, with the default threshold: the CPU endpoint, the same model.
    assert answer["route"]["endpoint"] == "cpu" and answer["route"]["reason"] == "short_text"
    assert answer["classification"]["label"] == plain["classification"]["label"]
    ours, theirs = probabilities(answer), probabilities(plain)
    assert set(ours) == set(theirs)
    for label, confidence in theirs.items():
        assert ours[label] == pytest.approx(confidence, abs=1e-4)
    assert answer["metadata"] == plain["metadata"]
    # Billed at the CPU endpoint's price.
    assert answer["cost"]["inference"]["usd_per_s"] == answer["cost"]["preprocess"]["usd_per_s"]
    assert plain["cost"]["inference"]["usd_per_s"] > answer["cost"]["inference"]["usd_per_s"]


@pytest.mark.slow
def test_a_short_text_runs_on_the_cpu_and_a_long_one_on_the_gpu(orchestrator):
    with orchestrator(smart_max_cpu_tokens=64) as client:
        short = client.post("/classify-smart", json={"text": SHORT}).json()
        long = client.post("/classify-smart", json={"text": LONG}).json()
        metrics = client.get("/metrics").text
    assert short["route"]["endpoint"] == "cpu" and short["route"]["tokens"] <= 64
    assert long["route"] == {
        "endpoint": "gpu",
        "reason": "long_text",
        "detail": f"{long['route']['tokens']} tokens > SMART_MAX_CPU_TOKENS=64",
        "tokens": long["route"]["tokens"],
        "max_cpu_tokens": 64,
    }
    assert long["metadata"]["windows"] > 1
    assert 'orchestrator_inference_routes_total{endpoint="cpu",reason="short_text"} 1.0' in metrics
    assert 'orchestrator_inference_routes_total{endpoint="gpu",reason="long_text"} 1.0' in metrics
    assert 'orchestrator_stage_jobs_total{stage="inference_cpu"} 1.0' in metrics


@pytest.mark.slow
def test_the_batch_route_parameter_picks_the_endpoint_for_the_whole_batch(orchestrator):
    batch = [{"text": SHORT}, {"text": "Another short one."}]
    with orchestrator(smart_max_cpu_tokens=64) as client:
        answers = {
            route: client.post(f"/classify-batch?route={route}", json=batch).json()
            for route in ("gpu", "cpu", "smart")
        }
        default = client.post("/classify-batch", json=batch).json()
        bad = client.post("/classify-batch?route=fast", json=batch)
        too_big = client.post("/classify-batch?route=smart", json=[*batch, {"text": LONG}])
    assert answers["gpu"]["route"]["reason"] == answers["cpu"]["route"]["reason"] == "requested"
    assert answers["cpu"]["route"]["endpoint"] == "cpu"
    assert answers["smart"]["route"]["endpoint"] == "cpu"
    assert answers["smart"]["route"]["reason"] == "short_text"
    assert default["route"]["endpoint"] == "gpu"
    # All the batch's tokens count: with a long text in it, it goes to the GPU as a whole.
    assert too_big.json()["route"]["endpoint"] == "gpu"
    for route in ("cpu", "smart"):
        for ours, theirs in zip(answers[route]["results"], answers["gpu"]["results"], strict=True):
            for label, confidence in probabilities(theirs).items():
                assert probabilities(ours)[label] == pytest.approx(confidence, abs=1e-4)
    assert bad.status_code == 422
    assert bad.json()["error"] == "query.route: Input should be 'gpu', 'cpu' or 'smart'"


@pytest.mark.slow
def test_without_a_cpu_endpoint_route_cpu_is_503_and_smart_uses_the_gpu(orchestrator):
    with orchestrator(cpu_inference_endpoint="") as client:
        refused = client.post("/classify-batch?route=cpu", json=[{"text": SHORT}])
        smart = client.post("/classify-smart", json={"text": SHORT}).json()
        health = client.get("/health").json()
    assert refused.status_code == 503
    assert refused.json()["error"] == (
        "inference stage: no CPU inference endpoint: set CPU_INFERENCE_ENDPOINT"
    )
    assert smart["route"]["endpoint"] == "gpu" and smart["route"]["reason"] == "no_cpu_endpoint"
    assert "inference_cpu" not in health["stages"] and health["status"] == "ok"


@pytest.mark.slow
def test_when_the_gpu_endpoint_is_down_medium_texts_go_to_the_cpu(orchestrator):
    # Every text is "medium" here: above SMART_MAX_CPU_TOKENS, within the fallback's limit.
    with orchestrator(
        inference_endpoint=dead_url(), smart_max_cpu_tokens=4, smart_fallback_max_tokens=256
    ) as client:
        medium = client.post("/classify-smart", json={"text": SHORT})
        long = client.post("/classify-smart", json={"text": LONG})
        plain = client.post("/classify", json={"text": SHORT})
    assert medium.status_code == 200, medium.text
    route = medium.json()["route"]
    assert (route["endpoint"], route["reason"]) == ("cpu", "gpu_unreachable")
    assert "SMART_FALLBACK_MAX_TOKENS=256" in route["detail"]
    # Too long for the CPU, and an endpoint the caller named, are not swapped.
    assert long.status_code == plain.status_code == 503
    assert long.json()["stage"] == "inference"
    assert "INFERENCE_ENDPOINT" in long.json()["error"]


@pytest.mark.slow
def test_when_the_cpu_endpoint_is_down_short_texts_go_to_the_gpu(orchestrator):
    with orchestrator(cpu_inference_endpoint=dead_url()) as client:
        answer = client.post("/classify-smart", json={"text": SHORT})
    assert answer.status_code == 200, answer.text
    route = answer.json()["route"]
    assert (route["endpoint"], route["reason"]) == ("gpu", "cpu_unreachable")
    assert "CPU_INFERENCE_ENDPOINT" in route["detail"]


@pytest.mark.slow
def test_a_backlogged_hosted_gpu_endpoint_sends_medium_texts_to_the_cpu(orchestrator, fake):
    hosted_gpu = {
        "runpod_api_key": API_KEY,
        "runpod_api_base": f"{fake.url}/v2",
        "inference_endpoint": "backlogged",
        "smart_max_cpu_tokens": 4,
        "smart_gpu_max_queue_s": 0,
    }
    with orchestrator(**hosted_gpu) as client:
        answer = client.post("/classify-smart", json={"text": SHORT})
    assert answer.status_code == 200, answer.text
    route = answer.json()["route"]
    assert (route["endpoint"], route["reason"]) == ("cpu", "gpu_backlog")
    assert "3 jobs queued and no ready worker" in route["detail"]
    assert not fake.submitted["backlogged"]  # no job was left waiting in its queue


@pytest.mark.slow
@pytest.mark.parametrize("retry", [False, True])
def test_a_gpu_timeout_goes_to_the_cpu_only_when_allowed(orchestrator, fake, retry):
    hosted_gpu = {
        "runpod_api_key": API_KEY,
        "runpod_api_base": f"{fake.url}/v2",
        "inference_endpoint": "stuck",
        "inference_timeout_s": 0.5,
        "poll_interval_s": 0.05,
        "smart_max_cpu_tokens": 4,
        "smart_retry_timeout_on_cpu": retry,
    }
    with orchestrator(**hosted_gpu) as client:
        answer = client.post("/classify-smart", json={"text": SHORT})
    if not retry:
        assert answer.status_code == 504
        return
    assert answer.status_code == 200, answer.text
    assert answer.json()["route"]["reason"] == "gpu_timed_out"
    # The request's inference time includes the GPU attempt it gave up on.
    assert answer.json()["timings"]["inference"]["round_trip_ms"] >= 500


@pytest.mark.slow
def test_one_shared_run_sends_each_request_to_its_own_endpoint(local_stack):
    """Concurrent requests share the preprocess and postprocess jobs whatever their routes;
    the inference stage has one job per endpoint, and each request its own route."""
    urls = worker_urls(local_stack)

    async def run():
        async with httpx.AsyncClient() as client:
            endpoints = stage_endpoints(urls, client)
            cpu = StageEndpoint(Stage.INFERENCE, urls["cpu_inference"], client, 30)
            router = InferenceRouter(endpoints[Stage.INFERENCE], cpu, POLICY)
            return await Pipeline(endpoints, router=router).classify_many(
                [[SHORT], [LONG], [SHORT], [SHORT]],
                ["short", "long", "gpu", "cpu"],
                [RouteChoice.SMART, RouteChoice.SMART, RouteChoice.GPU, RouteChoice.CPU],
            )

    outcomes, timings = asyncio.run(run())
    routes: list[Route] = [o.route for o in outcomes]  # type: ignore[misc]
    assert [r.endpoint.value for r in routes] == ["cpu", "gpu", "gpu", "cpu"]
    assert [r.reason.value for r in routes] == ["short_text", "long_text", "requested", "requested"]
    assert all(o.error is None and len(o.results) == 1 for o in outcomes)
    assert timings["preprocess"].jobs == timings["postprocess"].jobs == 1
    assert timings["inference"].jobs == 2
    for outcome in outcomes:
        assert outcome.timings["inference"].shared_by == 2
        assert outcome.shares["inference"] == 0.5


@pytest.mark.slow
def test_the_cpu_inference_route_runs_the_stage_on_onnx_runtime(local_stack):
    with httpx.Client(base_url=local_stack.url, timeout=60) as client:
        preprocessed = client.post("/cpu/preprocess", json={"text": SHORT}).json()
        body = {
            "windows": preprocessed["windows"],
            "tokenizer_fingerprint": preprocessed["tokenizer"]["fingerprint"],
        }
        on_cpu = client.post("/cpu/inference", json=body).json()
        on_gpu = client.post("/gpu/inference", json=body).json()
    assert on_cpu["model_info"]["backend"] == "onnxruntime"
    assert "backend" not in on_gpu["model_info"]
    for ours, theirs in zip(on_cpu["predictions"], on_gpu["predictions"], strict=True):
        assert ours["label"] == theirs["label"]
        assert ours["confidence"] == pytest.approx(theirs["confidence"], abs=1e-4)
