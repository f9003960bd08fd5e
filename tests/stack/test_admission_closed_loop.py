"""A closed loop of exactly MAX_IN_FLIGHT clients against a real orchestrator process: none
is ever refused (the 429s that stopped `make benchmark` at concurrency 64)."""

import asyncio
from collections import Counter

import httpx
import pytest

from scripts.local_stack import free_port
from tests.fake_runpod import serve_fake_runpod
from tests.orchestrator_process import start_orchestrator


@pytest.fixture(scope="module")
def fake():
    with serve_fake_runpod(free_port()) as server:
        yield server


def test_a_closed_loop_of_exactly_max_in_flight_clients_is_never_refused(fake):
    """Each client sends its next request as soon as it has its answer: the answered one
    must have left admission by then (it leaves as its last byte is sent). A real process:
    the race is between its event loop and the client's."""
    clients, each = 8, 100
    orchestrator = start_orchestrator(fake, ADMISSION="fixed", MAX_IN_FLIGHT=str(clients))
    counts: Counter = Counter()

    async def closed_loop() -> None:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(
            base_url=orchestrator.url, limits=limits, timeout=30
        ) as client:

            async def one_client() -> None:
                for _ in range(each):
                    response = await client.post("/cpu/preprocess", json={"text": "hello there"})
                    counts[response.status_code] += 1

            await asyncio.gather(*(one_client() for _ in range(clients)))

    try:
        asyncio.run(closed_loop())
    finally:
        orchestrator.stop()
    # The stand-in's echo is no preprocess output (502): what matters is that none is a 429.
    assert counts.total() == clients * each and counts[429] == 0
