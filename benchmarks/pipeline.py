"""The whole local pipeline under closed-loop load: POST /classify at several concurrencies.

Each level sends the workload's texts in order, round and round, with `concurrency` callers
(started evenly over RAMP_S), until its request count or its time is used up. Each caller
behaves as a well-behaved client: an answer with Retry-After (429 when the orchestrator sheds
load, 503 while it drains) makes it wait and send the same text again: Retry-After plus a
random share of a backoff that doubles each time the same request is refused, up to
MAX_BACKOFF_S (exponential backoff with full jitter, as Runpod's docs ask of the clients its
own API rate-limits), so callers refused together do not come back together. Any other answer
ends the request. Every answer is counted by status, nothing stops a level but its bounds,
and the latencies reported are those of the 200s (the admitted requests), beside the 429s.
Every 200's `timings` object is kept, so the per-stage times (and `make cost`) can be read
from the same run.
"""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.load import Loop, closed_loop, ms_since, percentile

STAGES = ("preprocess", "inference", "postprocess")
# Answers that ask to be sent again later.
RETRIED = (429, 503)
# A Retry-After that cannot be read: wait this long, as for "1".
DEFAULT_RETRY_AFTER_S = 1.0
# The callers of a level start evenly over this long, not in one instant.
RAMP_S = 2.0
# The longest backoff before sending a refused request again ("truncated exponential
# backoff": cloud APIs' client libraries cap it at a few tens of seconds).
MAX_BACKOFF_S = 32.0
# What a request that got no HTTP answer at all is counted as.
NO_ANSWER = "no answer"


@dataclass
class Level:
    concurrency: int
    # Requests that ended (a final answer, or out of time while told to retry).
    requests: int
    seconds: float
    bounded_by: str
    # 200s per second: texts classified.
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    # Where a request's time went: each stage's round trip as the orchestrator measured it.
    stage_p50_ms: dict[str, float]
    # Every answer, retries included, by HTTP status (NO_ANSWER for a broken connection).
    answers: dict[str, int] = field(default_factory=dict)
    # How fast a 429 came back.
    shed_p50_ms: float = float("nan")
    shed_p95_ms: float = float("nan")

    @property
    def shed(self) -> int:
        return self.answers.get("429", 0)

    @property
    def ok(self) -> int:
        return self.answers.get("200", 0)

    def answers_text(self) -> str:
        return ", ".join(f"{count} x {status}" for status, count in sorted(self.answers.items()))


def backoff_s(retry_after: float, refusals: int, rng: random.Random) -> float:
    """How long to wait after the `refusals`-th refusal of one request: Retry-After, plus a
    random share ("full jitter") of a backoff that doubles with each refusal, from
    Retry-After up to MAX_BACKOFF_S. Never less than Retry-After; random, so clients
    refused together do not all come back together."""
    backoff = min(MAX_BACKOFF_S, retry_after * 2 ** (refusals - 1))
    return retry_after + rng.uniform(0.0, backoff)


def retry_after_s(response: httpx.Response) -> float:
    """Retry-After in seconds (the delta form; an HTTP date or junk counts as 1 s)."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


async def run_level(
    client: httpx.AsyncClient,
    texts: list[str],
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> tuple[Level, list[dict[str, Any]]]:
    answers: Counter[str] = Counter()
    shed_ms: list[float] = []
    deadline = time.perf_counter() + max_seconds
    # Seeded: the same run waits the same way.
    rng = random.Random(concurrency)

    async def one(index: int) -> dict[str, Any]:
        text_index = index % len(texts)
        record: dict[str, Any] = {"concurrency": concurrency, "text_index": text_index}
        refusals = 0
        while True:
            started = time.perf_counter()
            try:
                response = await client.post("/classify", json={"text": texts[text_index]})
            except httpx.TransportError:
                answers[NO_ANSWER] += 1
                return {**record, "status": NO_ANSWER}
            wall_ms = ms_since(started)
            answers[str(response.status_code)] += 1
            if response.status_code == 429:
                shed_ms.append(wall_ms)
            if response.status_code in RETRIED and "Retry-After" in response.headers:
                refusals += 1
                wait_s = backoff_s(retry_after_s(response), refusals, rng)
                left_s = deadline - time.perf_counter()
                if wait_s >= left_s:
                    # Out of time: wait out the level (never send sooner than asked), give up.
                    await asyncio.sleep(max(0.0, left_s))
                    return {**record, "status": str(response.status_code)}
                await asyncio.sleep(wait_s)
                continue
            record.update(status=str(response.status_code), wall_ms=round(wall_ms, 3))
            if response.status_code == 200:
                record["timings"] = response.json()["timings"]
            return record

    loop: Loop[dict[str, Any]] = await closed_loop(
        one, concurrency, max_requests, max_seconds, ramp_s=RAMP_S
    )
    done = [record for record in loop.results if record["status"] == "200"]
    walls = [record["wall_ms"] for record in done]
    level = Level(
        concurrency=concurrency,
        requests=len(loop.results),
        seconds=round(loop.seconds, 3),
        bounded_by=loop.bounded_by,
        requests_per_s=len(done) / loop.seconds if loop.seconds else 0.0,
        p50_ms=percentile(walls, 0.5),
        p95_ms=percentile(walls, 0.95),
        stage_p50_ms={
            stage: percentile([r["timings"][stage]["round_trip_ms"] for r in done], 0.5)
            for stage in STAGES
        },
        answers=dict(answers),
        shed_p50_ms=percentile(shed_ms, 0.5),
        shed_p95_ms=percentile(shed_ms, 0.95),
    )
    return level, done


def client_for(base_url: str, concurrency: int) -> httpx.AsyncClient:
    """One connection per caller: the client never queues a request of its own."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=None)
    return httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits)


async def run_levels(
    base_url: str,
    texts: list[str],
    concurrencies: list[int],
    max_requests: int,
    max_seconds: float,
) -> tuple[list[Level], list[dict[str, Any]]]:
    async with client_for(base_url, max(concurrencies)) as client:
        # Warm-up: the first forward passes at each length are slower, and connections open.
        await run_level(client, texts, 4, 8, max_seconds)
        levels, records = [], []
        for concurrency in concurrencies:
            level, level_records = await run_level(
                client, texts, concurrency, max(max_requests, concurrency), max_seconds
            )
            levels.append(level)
            records.extend(level_records)
    return levels, records
