"""Graceful drain, on a real orchestrator process and a real SIGTERM: the request in flight
finishes, the ones after it get 503, /ping says unhealthy, and what outlives the grace
period is cancelled with its jobs."""

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from scripts.local_stack import REPO_ROOT, free_port, wait_until_answers
from tests.fake_runpod import API_KEY, serve_fake_runpod

BODY = {"cleaned_text": "fine", "word_count": 1}


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def start_orchestrator(fake, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environ = {
        **os.environ,
        "RUNPOD_API_KEY": API_KEY,
        "RUNPOD_API_BASE": f"{fake.url}/v2",
        "PREPROCESS_ENDPOINT": "echo",
        "POSTPROCESS_ENDPOINT": "echo",
        "CPU_INFERENCE_ENDPOINT": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(process, f"{url}/ping", 60, "orchestrator")
    return process, url


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
    process, url = start_orchestrator(
        fake, INFERENCE_ENDPOINT="queued", POLL_INTERVAL_S="1", DRAIN_GRACE_S="30"
    )
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
        if process.poll() is None:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
    assert after.status_code == 503
    assert after.json()["error_type"] == "shutting_down"
    assert after.headers["X-Request-ID"] == after.json()["request_id"]
    # Answered by the stage, not cut: the stand-in's output is no inference output (502).
    first = answer["response"]
    assert first.status_code == 502
    assert "stage_failed" in first.text
    assert "drained: every request in flight was answered" in output


def test_what_outlives_the_grace_period_is_answered_503_and_its_job_cancelled(fake):
    process, url = start_orchestrator(
        fake, INFERENCE_ENDPOINT="stuck", POLL_INTERVAL_S="0.2", DRAIN_GRACE_S="1"
    )
    try:
        submitted, cancelled = len(fake.submitted["stuck"]), len(fake.cancelled)
        thread, answer = in_background(url)
        assert wait_for(lambda: len(fake.submitted["stuck"]) > submitted)
        process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
    response = answer["response"]
    assert response.status_code == 503
    assert response.json()["error_type"] == "shutting_down"
    assert len(fake.cancelled) == cancelled + 1
    assert "grace period over: 1 request(s) cancelled with their jobs" in output
