"""Graceful drain, on a real orchestrator process and a real SIGTERM: the request in flight
finishes, the ones after it get 503, /ping says unhealthy, and what outlives the grace
period is cancelled with its jobs."""

import signal
import threading
import time

import httpx
import pytest

from scripts.local_stack import free_port
from tests.fake_runpod import serve_fake_runpod
from tests.orchestrator_process import start_orchestrator

BODY = {"cleaned_text": "fine", "word_count": 1}


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def in_background(url: str) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def send() -> None:
        answer["response"] = httpx.post(f"{url}/gpu/inference", json=BODY, timeout=60)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, answer


def wait_for(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def draining(url: str) -> bool:
    return httpx.get(f"{url}/ping", timeout=5).status_code == 503


def test_on_sigterm_the_request_in_flight_finishes_and_new_ones_get_503(fake):
    # Each job needs two status polls a second apart: long enough to signal mid-way.
    orchestrator = start_orchestrator(
        fake, INFERENCE_ENDPOINT="queued", POLL_INTERVAL_S="1", DRAIN_GRACE_S="30"
    )
    process, url = orchestrator.process, orchestrator.url
    try:
        submitted = len(fake.submitted["queued"])
        thread, answer = in_background(url)
        assert wait_for(lambda: len(fake.submitted["queued"]) > submitted)
        process.send_signal(signal.SIGTERM)
        assert wait_for(lambda: draining(url))
        ping = httpx.get(f"{url}/ping", timeout=5)
        assert ping.json()["error_type"] == "shutting_down"
        after = httpx.post(f"{url}/gpu/inference", json=BODY, timeout=10)
        thread.join(60)
        assert process.wait(30) == 0
    finally:
        output = orchestrator.output()
        orchestrator.stop()
    assert after.status_code == 503
    assert after.json()["error_type"] == "shutting_down"
    assert after.headers["X-Request-ID"] == after.json()["request_id"]
    # Answered by the stage, not cut: the stand-in's output is no inference output (502).
    first = answer["response"]
    assert first.status_code == 502
    assert "stage_failed" in first.text
    assert "drained: every request in flight was answered" in output


def test_what_outlives_the_grace_period_is_answered_503_and_its_job_cancelled(fake):
    orchestrator = start_orchestrator(
        fake, INFERENCE_ENDPOINT="stuck", POLL_INTERVAL_S="0.2", DRAIN_GRACE_S="1"
    )
    process, url = orchestrator.process, orchestrator.url
    try:
        submitted, cancelled = len(fake.submitted["stuck"]), len(fake.cancelled)
        thread, answer = in_background(url)
        assert wait_for(lambda: len(fake.submitted["stuck"]) > submitted)
        process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert process.wait(30) == 0
    finally:
        output = orchestrator.output()
        orchestrator.stop()
    response = answer["response"]
    assert response.status_code == 503
    assert response.json()["error_type"] == "shutting_down"
    assert len(fake.cancelled) == cancelled + 1
    assert "grace period over: 1 request(s) cancelled with their jobs" in output
