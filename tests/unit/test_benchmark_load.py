"""The benchmark's load loop counts every answer by status, retries after Retry-After as a
well-behaved client, and never stops on an answer it can classify (real HTTP, a stand-in
orchestrator that sheds some requests)."""

import asyncio
import itertools
import random

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from benchmarks.pipeline import MAX_BACKOFF_S, backoff_s, client_for, retry_after_s, run_level
from scripts.local_stack import free_port
from tests.fake_runpod import serve_in_thread

TIMINGS = {stage: {"round_trip_ms": 1.0} for stage in ("preprocess", "inference", "postprocess")}


def stand_in(retry_after: str) -> FastAPI:
    """Answer n (from 1): every third is a 429, the fifth a 500, the rest 200."""
    app = FastAPI()
    numbers = itertools.count(1)

    @app.post("/classify")
    async def classify() -> JSONResponse:
        n = next(numbers)
        if n % 3 == 0:
            return JSONResponse(
                {"error": "overloaded"}, status_code=429, headers={"Retry-After": retry_after}
            )
        if n == 5:
            return JSONResponse({"error": "internal"}, status_code=500)
        return JSONResponse({"label": "POSITIVE", "timings": TIMINGS})

    return app


def level_against(app: FastAPI, concurrency: int, requests: int, seconds: float):
    async def run():
        async with client_for(url, concurrency) as client:
            return await run_level(client, ["a text", "another"], concurrency, requests, seconds)

    with serve_in_thread(app, free_port()) as url:
        return asyncio.run(run())


def test_429s_are_counted_and_retried_and_other_answers_end_a_request():
    level, records = level_against(stand_in(retry_after="0"), 1, 10, 60)
    # 14 answers for 10 requests: four were shed and sent again, one ended in a 500.
    assert level.answers == {"200": 9, "429": 4, "500": 1}
    assert level.requests == 10 and level.ok == 9 and level.shed == 4
    assert level.bounded_by == "count"
    # The latencies and timings are the 200s' alone.
    assert len(records) == 9 and all(r["status"] == "200" for r in records)
    assert level.stage_p50_ms == {"preprocess": 1.0, "inference": 1.0, "postprocess": 1.0}


def test_a_retry_after_past_the_levels_end_gives_the_request_up_without_sending_it_again():
    level, records = level_against(stand_in(retry_after="3600"), 2, 6, 5)
    assert level.answers["429"] >= 1
    assert sum(level.answers.values()) == 6
    assert level.requests == 6 and len(records) == level.ok


def test_retry_after_is_read_in_seconds_and_junk_counts_as_one():
    def answer(value: str | None) -> httpx.Response:
        headers = {"Retry-After": value} if value is not None else {}
        return httpx.Response(429, headers=headers)

    assert retry_after_s(answer("3")) == 3.0
    assert retry_after_s(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 1.0
    assert retry_after_s(answer(None)) == 1.0


def test_a_request_refused_again_may_wait_longer_up_to_the_cap_never_under_retry_after():
    rng = random.Random(0)
    for refusals in range(1, 10):
        ceiling = 1.0 + min(MAX_BACKOFF_S, 2 ** (refusals - 1))
        waits = [backoff_s(1.0, refusals, rng) for _ in range(50)]
        assert all(1.0 <= wait <= ceiling for wait in waits)
    # Spread out, so that clients refused together do not come back together.
    assert max(waits) - min(waits) > 1.0
    # A Retry-After longer than the cap is still honoured.
    assert backoff_s(10.0, 5, rng) >= 10.0
