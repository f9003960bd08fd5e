"""The orchestrator under abuse and faults, over real HTTP: bounded work, every job ended,
one error shape for every answer, honest health and start-up.

The stages are the stand-in of Runpod's hosted API (tests/fake_runpod.py), addressed by
endpoint ids as on Runpod; the orchestrator runs on a real uvicorn server where a test needs
real connections (chunked bodies, a client that goes away).
"""

import asyncio
import json
import logging
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import Stage
from orchestrator.app import create_app
from orchestrator.errors import StageOverloadedError
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import OrchestratorSettings
from scripts.local_stack import free_port
from tests.fake_runpod import API_KEY, serve_fake_runpod, serve_in_thread


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def hosted_settings(fake, **overrides) -> OrchestratorSettings:
    values = {
        "runpod_api_key": API_KEY,
        "runpod_api_base": f"{fake.url}/v2",
        "preprocess_endpoint": "echo",
        "inference_endpoint": "echo",
        "postprocess_endpoint": "echo",
        "cpu_inference_endpoint": "echo",
        "poll_interval_s": 0.05,
        **overrides,
    }
    return OrchestratorSettings(**values)


def wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def job_ids(fake, behaviour: str, first: int) -> list[str]:
    """The ids the stand-in gave the jobs submitted to `behaviour` since call number `first`."""
    return [f"job-{n}" for n in range(first, first + len(fake.submitted[behaviour]))]


# Every job ends --------------------------------------------------------------------------


def test_a_batch_is_one_preprocess_job_and_is_cancelled_when_it_times_out(fake):
    settings = hosted_settings(fake, preprocess_endpoint="stuck", preprocess_timeout_s=0.5)
    before = len(fake.cancelled)
    submitted_before = len(fake.submitted["stuck"])
    texts = [{"text": f"text number {i}"} for i in range(6)]
    with TestClient(create_app(settings)) as client:
        response = client.post("/classify-batch", json=texts)
        assert response.status_code == 504
        assert wait_for(lambda: len(fake.cancelled) > before)
    [job] = fake.submitted["stuck"][submitted_before:]
    assert job["input"]["items"] == texts
    # The request's id travels with its job, for the worker's log.
    assert job["input"]["request_ids"] == [response.json()["request_id"]]
    assert len(fake.cancelled) - before == 1


def test_when_one_job_of_a_stage_fails_all_its_siblings_are_cancelled(fake):
    """The stages run several jobs side by side (inference chunks, re-runs): one failing
    cancels the rest, and each of their Runpod jobs is cancelled too, not left billing."""
    before = len(fake.cancelled)

    async def siblings():
        async with httpx.AsyncClient() as client:
            stuck = StageEndpoint(
                Stage.INFERENCE, fake.base("stuck"), client, 30, 0.05, API_KEY, hosted=True
            )
            failed = StageEndpoint(
                Stage.INFERENCE, fake.base("failed"), client, 30, 0.05, API_KEY, hosted=True
            )

            async def fail_later():
                await asyncio.sleep(0.5)
                await failed.run({"x": 1})

            with pytest.raises(ExceptionGroup):
                async with asyncio.TaskGroup() as group:
                    for i in range(5):
                        group.create_task(stuck.run({"i": i}))
                    group.create_task(fail_later())
            await stuck.drain_cancellations()

    asyncio.run(siblings())
    assert len(fake.cancelled) - before == 5


def test_cancelled_is_logged_only_for_jobs_runpod_confirmed(fake, caplog):
    settings = hosted_settings(fake, inference_endpoint="stuck", inference_timeout_s=0.3)
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings)) as client:
        client.post("/gpu/inference", json={"cleaned_text": "fine", "word_count": 1})
    lines = [r.getMessage() for r in caplog.records if "cancel" in r.getMessage()]
    assert any("cancelled job" in line for line in lines), lines
    assert not any("cancelling" in line for line in lines)


def test_a_stalled_connection_answers_504_within_the_timeout_and_half_a_second(fake):
    settings = hosted_settings(fake, inference_endpoint="stall", inference_timeout_s=3.0)
    with TestClient(create_app(settings)) as client:
        started = time.perf_counter()
        response = client.post("/gpu/inference", json={"cleaned_text": "fine", "word_count": 1})
        elapsed = time.perf_counter() - started
    assert response.status_code == 504
    assert response.json()["error"] == "inference stage: no result within 3 s"
    assert elapsed < 3.5


def test_a_client_that_goes_away_cancels_its_jobs(fake, caplog):
    caplog.set_level(logging.INFO)
    settings = hosted_settings(fake, inference_endpoint="stuck", inference_timeout_s=30)
    before = len(fake.cancelled)
    with serve_in_thread(create_app(settings), free_port()) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/gpu/inference",
                json={"cleaned_text": "fine", "word_count": 1},
                timeout=httpx.Timeout(1.0),
            )
        # Long before the stage's own 30 s timeout.
        assert wait_for(lambda: len(fake.cancelled) > before, timeout_s=5)
    # Logged as proxies log it, and not as a bug of ours.
    lines = [r.getMessage() for r in caplog.records if r.name == "orchestrator"]
    assert any(" 499 " in line and "the client went away first" in line for line in lines)
    assert not any("internal error" in line for line in lines)


def test_hosted_jobs_carry_runpods_execution_policy(fake):
    settings = hosted_settings(fake, preprocess_timeout_s=2.0)
    with TestClient(create_app(settings)) as client:
        client.post("/cpu/preprocess", json={"text": "hello there"})
    policy = fake.submitted["echo"][-1]["policy"]
    # executionTimeout above Runpod's 5 s minimum; ttl is JOB_TTL_S, not the stage timeout
    # (it counts queue and cold start too: tests/test_hosted_traps.py).
    assert policy == {"executionTimeout": 5_000, "ttl": int(settings.job_ttl_s * 1000)}


# Bounded work ----------------------------------------------------------------------------


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(fake):
    settings = hosted_settings(fake, max_request_bytes=100_000)

    def five_megabytes():
        yield b'{"text": "'
        for _ in range(80):
            yield b"x" * 65_536
        yield b'"}'

    with serve_in_thread(create_app(settings), free_port()) as url:
        started = time.perf_counter()
        try:
            response = httpx.post(f"{url}/classify", content=five_megabytes(), timeout=10)
            status, body = response.status_code, response.json()
        except httpx.HTTPError:
            # The server may close the connection while the client is still sending.
            status, body = 413, None
        elapsed = time.perf_counter() - started
    assert status == 413
    if body is not None:
        assert body["error"] == "Request body too large (maximum 100,000 bytes)"
    assert elapsed < 1.0


def test_a_declared_length_over_the_limit_is_refused_before_reading(fake):
    settings = hosted_settings(fake, max_request_bytes=1_000)
    with TestClient(create_app(settings)) as client:
        response = client.post("/classify", json={"text": "x" * 2_000})
    assert response.status_code == 413
    assert response.json()["error_type"] == "invalid_input"


def test_a_huge_batch_is_counted_before_any_item_is_validated(fake):
    settings = hosted_settings(fake)
    body = json.dumps([{}] * 300_000)
    with TestClient(create_app(settings)) as client:
        started = time.perf_counter()
        response = client.post(
            "/classify-batch", content=body, headers={"Content-Type": "application/json"}
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 422
    assert response.json()["error"] == "Too many texts (maximum 64). Got 300000."
    assert elapsed < 1.0


def test_requests_beyond_max_in_flight_are_answered_429_with_retry_after(fake):
    settings = hosted_settings(
        fake, inference_endpoint="stuck", inference_timeout_s=2, max_in_flight=1
    )
    with serve_in_thread(create_app(settings), free_port()) as url:

        async def two_at_once():
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                body = {"cleaned_text": "fine", "word_count": 1}
                first = asyncio.create_task(client.post("/gpu/inference", json=body))
                await asyncio.sleep(0.3)
                second = await client.post("/gpu/inference", json=body)
                return await first, second

        first, second = asyncio.run(two_at_once())
    assert first.status_code == 504
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert second.json()["error_type"] == "overloaded"
    assert second.headers["X-Request-ID"] == second.json()["request_id"]


def test_a_saturated_connection_pool_is_overload_not_a_stage_timeout(fake):
    async def two_jobs():
        # One connection, held by a job whose /runsync never answers.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits) as client:
            endpoint = StageEndpoint(
                Stage.INFERENCE,
                fake.base("stall"),
                client,
                30,
                0.05,
                API_KEY,
                hosted=True,
                pool_wait_s=0.3,
            )
            holder = asyncio.create_task(endpoint.run({"first": True}))
            await asyncio.sleep(0.2)
            try:
                with pytest.raises(StageOverloadedError) as caught:
                    await endpoint.run({"second": True})
            finally:
                holder.cancel()
            return caught.value

    error = asyncio.run(two_jobs())
    assert error.status_code == 429 and error.headers == {"Retry-After": "1"}
    assert error.error_type == "overloaded"


# One error shape -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "message"),
    [
        ("GET", "/no-such-route", None, 404, "No route /no-such-route: see /docs for the routes"),
        ("GET", "/classify", None, 405, "GET is not allowed on /classify"),
        ("POST", "/classify", b"\xff\xfe not utf-8", 422, "Request body is not valid JSON"),
        ("POST", "/classify", b'{"text": ', 422, "Request body is not valid JSON"),
        ("POST", "/classify", b'{"text": "\xc3\x28 abc"}', 400, "Request body could not be read"),
        ("POST", "/classify-batch", b'["\xc3\x28"]', 400, "Request body could not be read"),
    ],
)
def test_every_error_has_the_one_shape_and_a_request_id(
    fake, method, path, content, status, message
):
    with TestClient(create_app(hosted_settings(fake))) as client:
        response = client.request(
            method, path, content=content, headers={"Content-Type": "application/json"}
        )
    body = response.json()
    assert response.status_code == status
    assert body["error"].startswith(message)
    assert set(body) == {"error", "error_type", "stage", "request_id", "details", "timings"}
    assert response.headers["X-Request-ID"] == body["request_id"]


def test_the_openapi_document_lists_every_error_status(fake):
    with TestClient(create_app(hosted_settings(fake))) as client:
        spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/classify"]["post"]["responses"]
    for code in ("400", "404", "405", "413", "422", "429", "500", "502", "503", "504"):
        assert responses[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }, code
    batch_body = spec["paths"]["/classify-batch"]["post"]["requestBody"]
    assert batch_body["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/ClassifyRequest"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_a_bug_is_a_500_logged_once_by_type_without_a_traceback(fake, caplog):
    app = create_app(hosted_settings(fake))
    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as client:

        async def broken(texts, request_id="", route=None):
            raise KeyError("the caller's private text")

        app.state.services.coalescer.classify = broken
        response = client.post("/classify", json={"text": "my private words"})
        # The same connection still works.
        assert client.get("/ping").status_code == 200
    assert response.status_code == 500
    assert response.json()["error"] == "Internal error in the orchestrator"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is None
    assert "KeyError" in errors[0].getMessage()
    for record in caplog.records:
        assert "private" not in record.getMessage()


# Honest health and start-up --------------------------------------------------------------


def test_health_reports_an_endpoint_that_does_not_exist(fake):
    settings = hosted_settings(fake, inference_endpoint="no-such-endpoint-id")
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["stages"]["inference"]["status"] == "no such endpoint"
    assert "no-such-endpoint-id" not in response.text
    assert fake.url not in response.text
