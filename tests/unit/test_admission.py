"""Admission by measured latency: the limit's rules on a clock the test moves, and shedding
under a burst over real HTTP (counts, never times)."""

import asyncio
from collections import Counter
from dataclasses import replace

import httpx
import pytest

from orchestrator.admission import PROBE_SAMPLES, WINDOW_SAMPLES, LatencyLimit
from orchestrator.app import create_app
from scripts.local_stack import free_port
from tests.fake_runpod import API_KEY, serve_fake_runpod, serve_in_thread


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answer(limit: LatencyLimit, clock: Clock, seconds: float, in_flight: int = 0) -> None:
    """One request admitted with `in_flight` others running, answered after `seconds`."""
    ticket = limit.admit(in_flight)
    assert ticket is not None
    clock.now += seconds
    limit.answered(ticket)


def probed(unloaded_s: float = 0.1, ceiling: int = 64) -> tuple[LatencyLimit, Clock]:
    clock = Clock()
    limit = LatencyLimit(ceiling, tolerance=1.5, probe_interval_s=1000, clock=clock)
    for _ in range(PROBE_SAMPLES):
        answer(limit, clock, unloaded_s)
    return limit, clock


def window(limit: LatencyLimit, clock: Clock, seconds: float, reach_limit: bool) -> None:
    """One window of answers, each `seconds` long, none alone; with the limit reached or not
    (a limit of one is reached by any request)."""
    tickets = []
    for i in range(WINDOW_SAMPLES):
        in_flight = limit.current - 1 if reach_limit and i == 0 else 0
        tickets.append(limit.admit(in_flight))
    clock.now += max(seconds, 1.0)
    for ticket in tickets:
        assert ticket is not None
        limit.answered(replace(ticket, alone=False, started=clock.now - seconds))


def test_the_limit_is_one_until_the_unloaded_round_trip_is_measured():
    clock = Clock()
    limit = LatencyLimit(64, tolerance=1.5, probe_interval_s=60, clock=clock)
    assert limit.probing and limit.current == 1
    assert limit.admit(1) is None
    for _ in range(PROBE_SAMPLES - 1):
        answer(limit, clock, 0.1)
    # A request that did not run alone says nothing about the unloaded round trip.
    ticket = limit.admit(0)
    assert ticket is not None
    limit.answered(replace(ticket, alone=False))
    assert limit.probing
    answer(limit, clock, 0.1)
    assert not limit.probing
    assert limit.unloaded_s == pytest.approx(0.1)
    assert limit.target_s == pytest.approx(0.15)


def test_round_trips_under_the_target_grow_the_limit_only_when_it_was_reached():
    limit, clock = probed()
    window(limit, clock, 0.05, reach_limit=True)
    assert limit.current == 2
    # One at a time, under a limit of two: the limit is not what holds latency down.
    window(limit, clock, 0.05, reach_limit=False)
    assert limit.current == 2
    window(limit, clock, 0.05, reach_limit=True)
    # Far under the target: doubled at most.
    assert limit.current == 4


def test_round_trips_over_the_target_shrink_the_limit_in_proportion_at_most_by_half():
    limit, clock = probed()
    limit.limit = 20.0
    window(limit, clock, 0.3, reach_limit=True)  # twice the target
    assert limit.current == 10
    window(limit, clock, 3.0, reach_limit=True)  # twenty times the target: halved
    assert limit.current == 5
    for _ in range(10):
        window(limit, clock, 3.0, reach_limit=True)
    assert limit.current == 1


def test_max_in_flight_stays_the_ceiling():
    limit, clock = probed(ceiling=3)
    for _ in range(10):
        window(limit, clock, 0.01, reach_limit=True)
    assert limit.current == 3
    assert limit.admit(3) is None


def test_answers_to_requests_admitted_under_an_older_limit_are_not_counted():
    limit, clock = probed()
    old = limit.admit(0)
    window(limit, clock, 0.05, reach_limit=True)
    assert limit.current == 2
    assert old is not None
    for _ in range(WINDOW_SAMPLES):
        clock.now += 10
        limit.answered(old)  # very slow, but from before the change: ignored
    assert limit.current == 2


def test_requests_that_ran_alone_keep_the_unloaded_round_trip_fresh_without_a_probe():
    limit, clock = probed(unloaded_s=0.5)
    for _ in range(PROBE_SAMPLES):
        answer(limit, clock, 0.02)
    assert limit.unloaded_s == pytest.approx(0.02)
    # One that had company part of the way is not counted.
    first = limit.admit(0)
    second = limit.admit(1)
    assert first is not None and second is not None
    limit.answered(replace(first, started=clock.now - 5))
    assert limit.unloaded_s == pytest.approx(0.02)


def test_the_unloaded_round_trip_is_measured_again_after_the_probe_interval():
    clock = Clock()
    limit = LatencyLimit(64, tolerance=1.5, probe_interval_s=5, clock=clock)
    for _ in range(PROBE_SAMPLES):
        answer(limit, clock, 0.1)
    clock.now += 10
    window(limit, clock, 0.05, reach_limit=True)
    assert limit.probing and limit.current == 1
    for _ in range(PROBE_SAMPLES):
        answer(limit, clock, 0.4)
    assert limit.unloaded_s == pytest.approx(0.4)
    # The limit learnt before the probe is kept.
    assert limit.current == 2


# Over real HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def burst(fake, count: int, **settings) -> tuple[Counter, list[httpx.Response]]:
    from orchestrator.settings import OrchestratorSettings

    values = {
        "runpod_api_key": API_KEY,
        "runpod_api_base": f"{fake.url}/v2",
        "preprocess_endpoint": "echo",
        # Every job needs two status polls: each admitted request holds its place a while.
        "inference_endpoint": "queued",
        "postprocess_endpoint": "echo",
        "cpu_inference_endpoint": "",
        "poll_interval_s": 0.5,
        **settings,
    }
    app = create_app(OrchestratorSettings(**values))
    body = {"cleaned_text": "fine", "word_count": 1}

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            return await asyncio.gather(
                *(client.post(f"{url}/gpu/inference", json=body) for _ in range(count))
            )

    with serve_in_thread(app, free_port()) as url:
        responses = asyncio.run(send_all())
    return Counter(r.status_code for r in responses), responses


def test_a_burst_is_shed_at_once_beyond_the_measured_limit(fake):
    counts, responses = burst(fake, 12)
    # Nothing measured yet: one request runs, to measure the unloaded round trip. (The
    # stand-in's answer is no inference output: admitted requests answer 502, not 429.)
    assert counts[429] == 11 and counts.total() == 12
    for response in responses:
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
            body = response.json()
            assert body["error_type"] == "overloaded"
            assert body["request_id"] == response.headers["X-Request-ID"]


def test_fixed_admission_sheds_beyond_max_in_flight(fake):
    counts, _ = burst(fake, 12, admission="fixed", max_in_flight=3)
    assert counts[429] == 9 and counts.total() == 12
