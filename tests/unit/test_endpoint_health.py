"""/health for endpoints given as URLs: reachable only when something there answers like a
Runpod worker, over real HTTP to real servers. (Runpod's own local API server, the real
workers', is checked in test_run_local.py.)
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from orchestrator.app import create_app
from orchestrator.settings import OrchestratorSettings
from scripts.local_stack import free_port
from tests.fake_runpod import serve_fake_runpod, serve_in_thread


def every_stage_at(url: str) -> OrchestratorSettings:
    return OrchestratorSettings(
        preprocess_endpoint=url,
        inference_endpoint=url,
        postprocess_endpoint=url,
        cpu_inference_endpoint="",
    )


def health_of(url: str) -> tuple[int, dict]:
    with TestClient(create_app(every_stage_at(url))) as client:
        response = client.get("/health")
    assert url not in response.text
    return response.status_code, response.json()["stages"]["inference"]


@pytest.fixture(scope="module")
def nothing_here() -> Iterator[str]:
    """A web server with no routes: 404 to every path."""
    with serve_in_thread(
        FastAPI(openapi_url=None, docs_url=None, redoc_url=None), free_port()
    ) as url:
        yield url


def test_an_address_that_answers_404_everywhere_is_no_such_endpoint(nothing_here):
    status, stage = health_of(nothing_here)
    assert status == 503
    assert stage == {
        "status": "no such endpoint",
        "detail": "HTTP 404 to /health, /openapi.json and /runsync: nothing there answers like "
        "a Runpod worker; check its *_ENDPOINT setting",
    }


def test_a_web_page_that_answers_every_path_is_not_a_worker():
    site = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @site.get("/{path:path}")
    async def page(path: str) -> HTMLResponse:
        return HTMLResponse("<html>a web site</html>")

    with serve_in_thread(site, free_port()) as url:
        status, stage = health_of(url)
    assert status == 503
    assert stage == {"status": "error", "detail": "it answers, but not like a Runpod worker"}


def test_a_server_with_a_post_only_runsync_is_a_worker():
    worker = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @worker.post("/runsync")
    async def runsync() -> dict:
        return {"id": "x", "status": "COMPLETED", "output": {}}

    with serve_in_thread(worker, free_port()) as url:
        status, stage = health_of(url)
    assert status == 200
    assert stage == {"status": "ok", "detail": "reachable (answers POST /runsync)"}


def test_a_url_that_speaks_the_hosted_api_reports_its_workers():
    # The stand-in of the hosted API, addressed by URL rather than by endpoint id.
    with serve_fake_runpod(free_port()) as fake:
        status, stage = health_of(fake.base("echo"))
    assert status == 200
    assert stage["status"] == "ok" and stage["workers"] == {"idle": 1, "running": 0}
