"""Caller keys and per-key limits, over the orchestrator's real routes: 401 without a known
key, 429 past a key's limits, the key never in a log line, and the start-up warning.

The stages are the stand-in of Runpod's hosted API (tests/fake_runpod.py); requests that
must overlap go over real HTTP to a real uvicorn server.
"""

import hashlib
import logging
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import ErrorResponse
from orchestrator.__main__ import settings_or_exit
from orchestrator.access import exposure_warning
from orchestrator.app import create_app
from orchestrator.caller_keys import key_hash
from orchestrator.settings import OrchestratorSettings
from scripts.local_stack import free_port
from tests.fake_runpod import API_KEY, serve_fake_runpod, serve_in_thread
from tests.unit.test_orchestrator_limits import hosted_settings, wait_for

KEY = "k3y-for-the-tests-0123456789abcdef"
OTHER_KEY = "another-key-for-the-tests-98765"
WRONG_KEY = "not-a-key-anyone-was-given-00000"


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error_shape(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status
    body = ErrorResponse.model_validate(response.json())
    assert body.error_type == error_type
    assert response.headers["X-Request-ID"] == body.request_id


# Who may call ----------------------------------------------------------------------------


def key_sources(tmp_path: Path) -> dict[str, dict]:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# callers\n\n{KEY}\n{key_hash(OTHER_KEY)} ci-runner\n")
    hashed_file = tmp_path / "hashed"
    hashed_file.write_text(f"{key_hash(KEY)} web\n")
    return {
        "plain in API_KEYS": {"api_keys": f"{OTHER_KEY}, {KEY}"},
        "hashed in API_KEYS": {"api_keys": key_hash(KEY)},
        "plain in API_KEYS_FILE": {"api_keys_file": keys_file},
        "hashed in API_KEYS_FILE": {"api_keys_file": hashed_file},
        "both": {"api_keys": key_hash(OTHER_KEY), "api_keys_file": hashed_file},
    }


@pytest.mark.parametrize(
    "source",
    [
        "plain in API_KEYS",
        "hashed in API_KEYS",
        "plain in API_KEYS_FILE",
        "hashed in API_KEYS_FILE",
        "both",
    ],
)
def test_a_route_needs_a_key_it_knows(fake, tmp_path, source):
    settings = hosted_settings(fake, **key_sources(tmp_path)[source])
    with TestClient(create_app(settings)) as client:
        missing = client.get("/health")
        wrong = client.get("/health", headers=bearer(WRONG_KEY))
        right = client.get("/health", headers=bearer(KEY))
        basic = client.get("/health", headers={"Authorization": f"Basic {KEY}"})
    assert_error_shape(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="orchestrator"'
    assert missing.json()["error"] == "Missing API key: send Authorization: Bearer <key>"
    assert_error_shape(wrong, 401, "unauthorized")
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="orchestrator", error="invalid_token"'
    assert wrong.json()["error"] == "Invalid API key"
    assert_error_shape(basic, 401, "unauthorized")
    assert right.status_code == 200
    assert right.json()["stages"]["inference"]["status"] == "ok"


def test_a_pipeline_route_runs_with_a_key_and_starts_no_job_without_one(fake):
    settings = hosted_settings(fake, api_keys=KEY)
    with TestClient(create_app(settings)) as client:
        jobs_before = len(fake.submitted["echo"])
        refused = client.post("/cpu/preprocess", json={"text": "A fine day."})
        assert len(fake.submitted["echo"]) == jobs_before
        # The echo endpoint's output is no PreprocessOutput: a 502 means the job ran.
        ran = client.post("/cpu/preprocess", json={"text": "A fine day."}, headers=bearer(KEY))
    assert_error_shape(refused, 401, "unauthorized")
    assert ran.status_code == 502
    assert len(fake.submitted["echo"]) == jobs_before + 1


def test_only_ping_is_open_unless_health_and_metrics_are_opened(fake):
    with TestClient(create_app(hosted_settings(fake, api_keys=KEY))) as client:
        assert client.get("/ping").status_code == 200
        for path in ("/health", "/metrics", "/docs", "/openapi.json", "/no-such-route"):
            assert client.get(path).status_code == 401, path
        # With a key, a missing route is a 404 as before.
        assert client.get("/no-such-route", headers=bearer(KEY)).status_code == 404
    opened = hosted_settings(fake, api_keys=KEY, open_health_and_metrics=True)
    with TestClient(create_app(opened)) as client:
        for path in ("/ping", "/health", "/metrics"):
            assert client.get(path).status_code == 200, path
        assert client.get("/docs").status_code == 401


def test_without_keys_every_route_stays_open(fake):
    with TestClient(create_app(hosted_settings(fake))) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_the_openapi_document_lists_the_401(fake):
    with TestClient(create_app(hosted_settings(fake, api_keys=KEY))) as client:
        spec = client.get("/openapi.json", headers=bearer(KEY)).json()
    assert spec["paths"]["/classify"]["post"]["responses"]["401"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("API_KEYS", "short-key", "API_KEYS: entry 1: a key needs at least 16 characters"),
        (
            "API_KEYS",
            f"{KEY},sha256:abc",
            "API_KEYS: entry 2: sha256: must be followed by 64 hex digits",
        ),
        ("API_KEYS", f"{KEY},{KEY}", "API_KEYS: the key sha256:"),
        ("API_KEYS_FILE", "/no/such/keys-file", "API_KEYS_FILE: cannot read /no/such/keys-file"),
    ],
)
def test_a_bad_key_setting_stops_the_orchestrator_without_showing_the_key(
    monkeypatch, variable, value, message
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        settings_or_exit()
    line = str(stopped.value.code)
    assert line.startswith(f"orchestrator cannot start: invalid configuration: {message}")
    assert KEY not in line and "short-key" not in line


def test_a_key_file_line_with_a_bad_name_is_named_by_its_number(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{KEY} web\n{OTHER_KEY} no/slashes\n")
    with pytest.raises(ValueError, match="line 2: a name is 1 to 64 letters"):
        OrchestratorSettings(api_keys_file=keys_file)


# Each key's limits -----------------------------------------------------------------------


def test_a_key_past_its_rate_gets_429_and_other_keys_go_on(fake, caplog):
    caplog.set_level(logging.INFO)
    # A refill too slow to matter while the test runs: the bucket is counted, not timed.
    settings = hosted_settings(
        fake, api_keys=f"{KEY},{OTHER_KEY}", api_key_rate_per_s=0.001, api_key_burst=3
    )
    with TestClient(create_app(settings)) as client:
        answers = [client.get("/metrics", headers=bearer(KEY)) for _ in range(5)]
        other = client.get("/metrics", headers=bearer(OTHER_KEY))
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert_error_shape(refused, 429, "overloaded")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"].startswith("Too many requests for this API key")
    assert other.status_code == 200
    key_id = key_hash(KEY)[: len("sha256:") + 8]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2
    assert all(f"key={key_id}" in line for line in refusals)


def test_a_key_past_its_requests_in_flight_gets_429_until_one_ends(fake, caplog):
    caplog.set_level(logging.INFO)
    settings = hosted_settings(
        fake,
        api_keys=f"{KEY},{OTHER_KEY}",
        api_key_max_in_flight=2,
        open_health_and_metrics=True,
        # Both requests admitted at once: admission's own limit starts at one (admission.py).
        admission="fixed",
        preprocess_endpoint="stuck",
        preprocess_timeout_s=2,
    )
    with serve_in_thread(create_app(settings), free_port()) as url:
        stuck: list[httpx.Response] = []

        def classify() -> None:
            answer = httpx.post(
                f"{url}/classify", json={"text": "A fine day."}, headers=bearer(KEY), timeout=30
            )
            stuck.append(answer)

        threads = [threading.Thread(target=classify) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert wait_for(lambda: in_flight(url, 2), timeout_s=10)
        third = httpx.get(f"{url}/openapi.json", headers=bearer(KEY))
        other = httpx.get(f"{url}/openapi.json", headers=bearer(OTHER_KEY))
        for thread in threads:
            thread.join(30)
        after = httpx.get(f"{url}/openapi.json", headers=bearer(KEY))
    assert_error_shape(third, 429, "overloaded")
    assert third.headers["Retry-After"] == "1"
    assert "maximum 2" in third.json()["error"]
    assert other.status_code == 200
    assert [a.status_code for a in stuck] == [504, 504]
    assert after.status_code == 200


def in_flight(url: str, count: int) -> bool:
    """Whether the orchestrator's in-flight gauge shows `count` (its /metrics is open here)."""
    return f"orchestrator_requests_in_flight {count:.1f}" in httpx.get(f"{url}/metrics").text


# Never a key in a log line ---------------------------------------------------------------


def test_no_key_or_its_hash_reaches_a_log_line(fake, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{key_hash(OTHER_KEY)} ci-runner\n")
    settings = hosted_settings(
        fake, api_keys=KEY, api_keys_file=keys_file, api_key_rate_per_s=0.001, api_key_burst=2
    )
    with TestClient(create_app(settings)) as client:
        client.get("/health")
        client.get("/health", headers=bearer(WRONG_KEY))
        for _ in range(3):
            client.get("/health", headers=bearer(KEY))
        client.post("/classify", json={"text": "A fine day."}, headers=bearer(OTHER_KEY))
    lines = [record.getMessage() for record in caplog.records]
    secrets = [KEY, OTHER_KEY, WRONG_KEY, API_KEY]
    secrets += [hashlib.sha256(k.encode()).hexdigest() for k in (KEY, OTHER_KEY, WRONG_KEY)]
    for line in lines:
        assert not any(secret in line for secret in secrets), line
    # What the logs do say: the key's id, on its request's line and on its refusals.
    assert any("GET /health 200" in line and "key=sha256:" in line for line in lines)
    assert any("POST /classify" in line and "key=ci-runner" in line for line in lines)
    assert any("refused: unknown API key" in line for line in lines)
    assert any("refused: no API key" in line for line in lines)


# The start-up warning --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "warns"),
    [
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x"}, True),
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "host": "::"}, True),
        (
            {"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "host": "example.org"},
            True,
        ),
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "api_keys": KEY}, False),
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "host": "127.0.0.1"}, False),
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "host": "localhost"}, False),
        ({"inference_endpoint": "abc123xyz", "runpod_api_key": "rp_x", "host": "::1"}, False),
        # Local workers only: nothing bills.
        ({}, False),
    ],
)
def test_the_warning_needs_hosted_endpoints_a_wide_listen_and_no_keys(settings, warns):
    assert (exposure_warning(OrchestratorSettings(**settings)) is not None) is warns
