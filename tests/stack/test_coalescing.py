"""Cross-request coalescing against real local workers: concurrent requests share one job per
stage, each gets its own answer in order, a bad text fails only its own request, and a lone
request does not wait.

A second orchestrator process is started here over the session's real workers, with a long
COALESCE_WAIT_MS so that which requests share a run does not depend on the machine's speed.
"""

import asyncio
import os
import subprocess
import sys

import httpx
import pytest

from contracts import Stage
from orchestrator.errors import StageRejectedInputError
from orchestrator.pipeline import Pipeline
from orchestrator.runpod_client import StageEndpoint
from scripts.local_stack import REPO_ROOT, free_port, stop_processes, wait_until_answers

WAIT_MS = 400


def worker_urls(local_stack) -> dict[str, str]:
    return {w.name: w.url(local_stack.host) for w in local_stack.workers}


def stage_endpoints(urls: dict[str, str], client: httpx.AsyncClient) -> dict[Stage, StageEndpoint]:
    """The pipeline's three stages on the local workers at `urls`."""
    return {
        stage: StageEndpoint(stage, urls[stage.value], client, 30)
        for stage in (Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS)
    }


@pytest.fixture(scope="module")
def coalescing_url(local_stack):
    urls = worker_urls(local_stack)
    port = free_port()
    env = {
        **os.environ,
        "PREPROCESS_ENDPOINT": urls["preprocess"],
        "INFERENCE_ENDPOINT": urls["inference"],
        "POSTPROCESS_ENDPOINT": urls["postprocess"],
        "COALESCE_WAIT_MS": str(WAIT_MS),
        # Every concurrent request admitted: admission by latency starts at one in flight.
        "ADMISSION": "fixed",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
    }
    # Its own process, as in production: requests reach it while it works on others.
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(process, f"{url}/ping", 60, "coalescing orchestrator")
        yield url
    finally:
        stop_processes([process])


def post_all(url: str, requests: list[tuple[str, object]]) -> list[httpx.Response]:
    """All the requests at once, answers in the order sent."""

    async def go():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.post(r, json=b) for r, b in requests))

    return asyncio.run(go())


def runs_of(answers: list[dict]) -> float:
    """How many pipeline runs served these answers: each run counts once over its members."""
    return sum(1 / a["timings"]["preprocess"]["shared_by"] for a in answers)


def test_concurrent_requests_share_one_job_per_stage_and_keep_their_own_answers(coalescing_url):
    texts = [f"Text number {i}: {'good ' * i}and fine." for i in range(8)]
    responses = post_all(coalescing_url, [("/classify", {"text": t}) for t in texts])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    answers = [r.json() for r in responses]
    # The first to arrive finds nothing in flight and goes at once; those that arrive while it
    # runs wait for each other: eight requests, two runs of one job per stage (three at most,
    # if the machine delays an arrival past the first run).
    assert runs_of(answers) <= 3
    biggest = max(answers, key=lambda a: a["timings"]["preprocess"]["shared_by"])
    assert biggest["timings"]["preprocess"]["shared_by"] >= 5
    for stage in ("preprocess", "inference", "postprocess"):
        assert biggest["timings"][stage]["jobs"] == 1, stage
    # Each answer is its own text's, in order: the counts tell the texts apart.
    for text, answer in zip(texts, answers, strict=True):
        assert answer["metadata"]["char_count"] == len(text)
        assert answer["cost"]["total_usd"] > 0  # its share of the shared jobs
    assert len({a["request_id"] for a in answers}) == len(answers)


def test_a_batch_shares_a_run_with_single_requests_in_order(coalescing_url):
    batch = [{"text": "Short one."}, {"text": "A somewhat longer second text."}]
    singles = [("/classify", {"text": f"A single text, number {i}."}) for i in range(4)]
    responses = post_all(coalescing_url, [*singles[:2], ("/classify-batch", batch), *singles[2:]])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    batch_answer = responses[2].json()
    assert [r["metadata"]["char_count"] for r in batch_answer["results"]] == [10, 30]
    for (_, body), response in zip(singles, [*responses[:2], *responses[3:]], strict=True):
        assert response.json()["metadata"]["char_count"] == len(body["text"])
    answers = [r.json() for r in responses]
    assert runs_of(answers) <= 3


def test_a_lone_request_does_not_wait_for_company(coalescing_url):
    with httpx.Client(base_url=coalescing_url, timeout=60) as client:
        answer = client.post("/classify", json={"text": "Nobody else is here."}).json()
    # COALESCE_WAIT_MS is 400 here: a request that finds nothing in flight goes at once.
    assert answer["timings"]["coalesce_wait_ms"] < WAIT_MS / 4
    assert answer["timings"]["preprocess"]["shared_by"] == 1


def test_a_text_a_worker_refuses_fails_only_its_own_request(local_stack):
    """The orchestrator refuses such text itself, so the shared run is driven directly here:
    the real preprocess worker refuses the blank text, and its neighbours go on."""
    urls = worker_urls(local_stack)

    async def run():
        async with httpx.AsyncClient() as client:
            return await Pipeline(stage_endpoints(urls, client)).classify_many(
                [["A good first text."], ["   "], ["A good third text.", "And a fourth."]],
                ["first", "second", "third"],
            )

    outcomes, timings = asyncio.run(run())
    first, second, third = outcomes
    assert isinstance(second.error, StageRejectedInputError)
    assert second.error.message == "Text cannot be empty"
    assert first.error is None and len(first.results) == 1
    assert third.error is None and len(third.results) == 2
    assert timings["preprocess"].jobs == 1 and timings["preprocess"].shared_by == 3
    assert timings["inference"].shared_by == 2  # the requests still alive after preprocess
