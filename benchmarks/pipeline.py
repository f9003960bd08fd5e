"""The whole local pipeline under closed-loop load: POST /classify at several concurrencies.

Each level sends the workload's texts in order, round and round, with `concurrency` requests
in flight, until its request count or its time is used up. Every answer's `timings` object
is kept, so the per-stage times (and `make cost`) can be read from the same run.
"""

import time
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.load import Loop, closed_loop, ms_since, percentile

STAGES = ("preprocess", "inference", "postprocess")


@dataclass
class Level:
    concurrency: int
    requests: int
    seconds: float
    bounded_by: str
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    # Where a request's time went: each stage's round trip as the orchestrator measured it.
    stage_p50_ms: dict[str, float]


async def run_level(
    client: httpx.AsyncClient,
    texts: list[str],
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> tuple[Level, list[dict[str, Any]]]:
    async def one(index: int) -> dict[str, Any]:
        text_index = index % len(texts)
        started = time.perf_counter()
        response = await client.post("/classify", json={"text": texts[text_index]})
        wall_ms = ms_since(started)
        response.raise_for_status()
        return {
            "concurrency": concurrency,
            "text_index": text_index,
            "wall_ms": round(wall_ms, 3),
            "timings": response.json()["timings"],
        }

    loop: Loop[dict[str, Any]] = await closed_loop(one, concurrency, max_requests, max_seconds)
    walls = [record["wall_ms"] for record in loop.results]
    level = Level(
        concurrency=concurrency,
        requests=len(loop.results),
        seconds=round(loop.seconds, 3),
        bounded_by=loop.bounded_by,
        requests_per_s=loop.per_second,
        p50_ms=percentile(walls, 0.5),
        p95_ms=percentile(walls, 0.95),
        stage_p50_ms={
            stage: percentile([r["timings"][stage]["round_trip_ms"] for r in loop.results], 0.5)
            for stage in STAGES
        },
    )
    return level, loop.results


async def run_levels(
    base_url: str,
    texts: list[str],
    concurrencies: list[int],
    max_requests: int,
    max_seconds: float,
) -> tuple[list[Level], list[dict[str, Any]]]:
    limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:
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
