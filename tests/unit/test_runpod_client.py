"""The orchestrator's Runpod client over real HTTP: the hosted API's answers and faults."""

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import Stage
from orchestrator.app import create_app
from orchestrator.errors import (
    StageFailedError,
    StageTimeoutError,
    StageUnavailableError,
    worker_message,
)
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import OrchestratorSettings, endpoint_base_url
from scripts.local_stack import free_port
from tests.fake_runpod import API_KEY, SDK_TRACEBACK_ERROR, serve_fake_runpod


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def run_job(base_url: str, job_input=None, timeout_s=5.0, api_key=API_KEY, hosted=True):
    async def go():
        async with httpx.AsyncClient() as client:
            endpoint = StageEndpoint(
                Stage.INFERENCE,
                base_url,
                client,
                timeout_s,
                poll_interval_s=0.05,
                api_key=api_key,
                hosted=hosted,
            )
            try:
                return await endpoint.run(job_input or {"x": 1})
            finally:
                await endpoint.drain_cancellations()

    return asyncio.run(go())


def test_endpoint_ids_mean_the_hosted_api_and_urls_are_kept():
    assert endpoint_base_url("abc123") == "https://api.runpod.ai/v2/abc123"
    assert endpoint_base_url("http://localhost:8001/") == "http://localhost:8001"


def test_a_completed_job_returns_output_and_runpods_timings(fake):
    output, timing = run_job(fake.base("echo"), {"text": "hi"})
    assert output == {"echo": {"text": "hi"}}
    assert timing.queue_ms == 1200 and timing.execution_ms == 35
    assert timing.round_trip_ms > 0


def test_a_job_not_final_after_runsync_is_polled_with_get(fake):
    output, _ = run_job(fake.base("queued"))
    assert output == {"after_polls": 2}


def test_a_passing_fault_while_polling_is_retried(fake):
    output, _ = run_job(fake.base("flaky-status"))
    assert output == {"after_polls": 2}


def test_status_falls_back_to_post_for_runpods_local_api_server(fake):
    output, _ = run_job(fake.base("local-status"))
    assert output == {"polled_with": "POST"}


def test_a_stuck_job_times_out_and_is_cancelled(fake):
    with pytest.raises(StageTimeoutError, match=r"no result within 0\.3 s"):
        run_job(fake.base("stuck"), timeout_s=0.3)
    assert fake.cancelled


def test_a_failed_job_carries_the_workers_message(fake):
    with pytest.raises(StageFailedError) as info:
        run_job(fake.base("failed"))
    assert info.value.message == "inference stage: Text cannot be empty"
    assert info.value.job_id and info.value.job_id.startswith("job-")


def test_a_raised_exception_never_leaks_its_traceback(fake):
    with pytest.raises(StageFailedError) as info:
        run_job(fake.base("raised"))
    assert info.value.message == "inference stage: the worker raised KeyError"
    assert worker_message(SDK_TRACEBACK_ERROR) == "the worker raised KeyError"


def test_execution_timeout_is_a_timeout(fake):
    with pytest.raises(StageTimeoutError, match="execution timeout"):
        run_job(fake.base("timed-out"))


def test_rate_limiting_is_retried(fake):
    output, _ = run_job(fake.base("rate-limited"))
    assert output == {"ok": True}


def test_a_wrong_api_key_is_named(fake):
    with pytest.raises(StageUnavailableError, match="check RUNPOD_API_KEY"):
        run_job(fake.base("echo"), api_key="wrong")


def test_server_errors_and_unknown_endpoints_are_unavailable(fake):
    with pytest.raises(StageUnavailableError, match="HTTP 500"):
        run_job(fake.base("server-error"))
    with pytest.raises(StageUnavailableError, match="check INFERENCE_ENDPOINT"):
        run_job(fake.base("no-such-behaviour"))


def test_an_unreachable_endpoint_is_unavailable():
    with pytest.raises(StageUnavailableError, match="cannot reach the endpoint"):
        run_job(f"http://127.0.0.1:{free_port()}", hosted=False)


PREDICTIONS = [{"label": "POSITIVE", "confidence": 0.9}, {"label": "NEGATIVE", "confidence": 0.1}]


@pytest.fixture
def orchestrator_with(fake):
    def make(
        preprocess="echo", inference="echo", postprocess="echo", timeout_s=5.0, cpu_inference="echo"
    ):
        # Endpoint ids, as on Runpod, against the stand-in of its hosted API.
        settings = OrchestratorSettings(
            runpod_api_key=API_KEY,
            runpod_api_base=f"{fake.url}/v2",
            preprocess_endpoint=preprocess,
            inference_endpoint=inference,
            postprocess_endpoint=postprocess,
            cpu_inference_endpoint=cpu_inference,
            inference_timeout_s=timeout_s,
            poll_interval_s=0.05,
        )
        return TestClient(create_app(settings))

    return make


@pytest.mark.parametrize(
    ("behaviour", "status", "error_type", "message"),
    [
        ("failed", 502, "stage_failed", "preprocess stage: Text cannot be empty"),
        ("raised", 502, "stage_failed", "preprocess stage: the worker raised KeyError"),
        ("timed-out", 504, "stage_timeout", "preprocess stage: the job ran past"),
        ("server-error", 503, "stage_unavailable", "preprocess stage: the endpoint answered"),
    ],
)
def test_stage_faults_map_to_http_statuses(
    orchestrator_with, behaviour, status, error_type, message
):
    with orchestrator_with(preprocess=behaviour) as client:
        response = client.post("/classify", json={"text": "A fine day."})
    body = response.json()
    assert response.status_code == status
    assert body["error_type"] == error_type and body["stage"] == "preprocess"
    assert body["error"].startswith(message)
    assert "Traceback" not in response.text and "secret-internal-detail" not in response.text
    assert response.headers["X-Request-ID"] == body["request_id"]


def test_an_error_answer_shows_how_far_the_request_got(orchestrator_with, fake):
    with orchestrator_with(postprocess="failed") as client:
        # Echoing preprocess breaks the contract; use the stage routes to see a late failure.
        response = client.post("/cpu/postprocess", json={"predictions": PREDICTIONS})
    timings = response.json()["timings"]
    assert timings["postprocess"]["round_trip_ms"] > 0
    assert timings["total_ms"] >= timings["postprocess"]["round_trip_ms"]
    assert timings["preprocess"] is None


def test_a_stage_timeout_is_504(orchestrator_with):
    with orchestrator_with(inference="stuck", timeout_s=0.3) as client:
        response = client.post("/gpu/inference", json={"cleaned_text": "fine", "word_count": 1})
    assert response.status_code == 504
    assert response.json()["stage"] == "inference"


def test_an_unreachable_stage_is_503(orchestrator_with, fake):
    settings = OrchestratorSettings(preprocess_endpoint=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        response = client.post("/cpu/preprocess", json={"text": "hello"})
    assert response.status_code == 503
    assert response.json()["error_type"] == "stage_unavailable"


def test_a_worker_output_that_breaks_the_contract_is_a_stage_failure(orchestrator_with):
    # The echo behaviour answers {"echo": ...}, which is no PreprocessOutput.
    with orchestrator_with() as client:
        response = client.post("/classify", json={"text": "A fine day."})
    assert response.status_code == 502
    assert response.json()["error"] == (
        "preprocess stage: the worker's output does not match the contract"
    )
    assert response.json()["timings"]["preprocess"]["queue_ms"] == 1200


def test_health_reports_the_hosted_workers(orchestrator_with):
    with orchestrator_with() as client:
        body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["stages"]["inference"]["workers"] == {"idle": 1, "running": 0}
    assert body["stages"]["inference_cpu"]["status"] == "ok"


def test_the_api_key_never_reaches_a_response(orchestrator_with):
    with orchestrator_with(preprocess="failed") as client:
        response = client.post("/classify", json={"text": "A fine day."})
    assert API_KEY not in response.text


def test_an_oversized_body_is_refused_before_it_is_read():
    settings = OrchestratorSettings(max_request_bytes=1_000)
    with TestClient(create_app(settings)) as client:
        response = client.post("/classify", json={"text": "x" * 2_000})
    assert response.status_code == 413
    assert response.json()["error"] == "Request body too large (maximum 1,000 bytes)"


def test_health_is_503_when_a_stage_cannot_be_reached(fake):
    settings = OrchestratorSettings(
        runpod_api_key=API_KEY,
        runpod_api_base=f"{fake.url}/v2",
        preprocess_endpoint=f"http://127.0.0.1:{free_port()}",
        inference_endpoint="echo",
        postprocess_endpoint="echo",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["stages"]["preprocess"]["status"] == "unreachable"
    assert response.json()["stages"]["inference"]["status"] == "ok"
