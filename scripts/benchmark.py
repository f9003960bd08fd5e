"""Measure, don't claim: batching gain on the inference worker, and pipeline latency.

    python -m scripts.benchmark [--model DIR_OR_ID] [--requests 200] [--concurrency 8]

1. batching: the real Classifier and WindowBatcher in one process. CONCURRENCY jobs of a few
   windows each arrive together; windows per second with coalescing off (MAX_BATCH_SIZE=1)
   and on (MAX_BATCH_SIZE=32).
2. pipeline: the whole local stack (three Runpod local API servers and the orchestrator)
   under REQUESTS /classify calls, CONCURRENCY at a time: latency percentiles and the share
   each stage takes.

Without --model it uses MODEL_ID, or the tiny random model (made if missing), so it runs
offline; on a GPU machine with the default model it measures what production would see.
"""

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import httpx

from scripts.local_stack import REPO_ROOT, LocalStack, free_port
from scripts.prepare_model import prepare

TINY_MODEL = REPO_ROOT / ".cache" / "tiny-model"
SAMPLE = (
    "The delivery was late and the box was damaged, but support replaced it quickly and the "
    "product itself works great. "
)


def resolve_model(arg: str | None) -> str:
    model = arg or os.environ.get("MODEL_ID")
    if model:
        # Workers run in their own folders: a relative directory must not change meaning.
        return str(Path(model).resolve()) if Path(model).is_dir() else model
    if not (TINY_MODEL / "config.json").exists():
        from scripts.make_tiny_model import write_tiny_model

        write_tiny_model(TINY_MODEL)
    return str(TINY_MODEL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_batching(model: str, concurrency: int, rounds: int) -> None:
    from inference_worker.batcher import WindowBatcher
    from inference_worker.model import Classifier

    classifier = Classifier(prepare(model, None, everything=True), model)
    windows = classifier.split_text((SAMPLE * 40)[:4000], overlap_tokens=16)[:4]
    jobs = [[w.input_ids for w in windows] for _ in range(concurrency)]
    classifier.probabilities(jobs[0])  # warm-up

    async def run(max_batch_size: int) -> float:
        batcher = WindowBatcher(classifier.probabilities, max_batch_size, max_batch_wait_ms=2)
        started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(batcher.classify(job) for job in jobs))
        return rounds * sum(map(len, jobs)) / (time.perf_counter() - started)

    off, on = asyncio.run(run(1)), asyncio.run(run(32))
    print(f"\n## batching ({classifier.info.device}, {classifier.info.dtype})")
    print(f"{concurrency} concurrent jobs x {len(windows)} windows, {rounds} rounds")
    print(f"  coalescing off (MAX_BATCH_SIZE=1):  {off:8.1f} windows/s")
    print(f"  coalescing on  (MAX_BATCH_SIZE=32): {on:8.1f} windows/s  ({on / off:.2f}x)")


def bench_pipeline(model: str, requests: int, concurrency: int) -> None:
    ports = {n: free_port() for n in ("preprocess", "inference", "postprocess", "orchestrator")}
    with LocalStack(env={"MODEL_ID": model}, ports=ports) as stack:

        async def load() -> list[dict]:
            limit = asyncio.Semaphore(concurrency)
            async with httpx.AsyncClient(base_url=stack.url, timeout=120) as client:

                async def one(i: int) -> dict:
                    async with limit:
                        started = time.perf_counter()
                        response = await client.post("/classify", json={"text": f"{i} {SAMPLE}"})
                        response.raise_for_status()
                        return {**response.json()["timings"], "wall_ms": _ms(started)}

                await one(-1)  # warm-up
                return await asyncio.gather(*(one(i) for i in range(requests)))

        started = time.perf_counter()
        results = asyncio.run(load())
        elapsed = time.perf_counter() - started
    walls = [r["wall_ms"] for r in results]
    print(f"\n## pipeline: {requests} x POST /classify, {concurrency} at a time")
    print(f"  throughput {requests / elapsed:.1f} requests/s")
    print(
        f"  latency ms: p50 {percentile(walls, 0.5):.1f}  p95 {percentile(walls, 0.95):.1f}"
        f"  max {max(walls):.1f}"
    )
    for stage in ("preprocess", "inference", "postprocess"):
        mean = statistics.fmean(r[stage]["round_trip_ms"] for r in results)
        print(f"  {stage:<12} mean round trip {mean:7.1f} ms")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", choices=["batching", "pipeline"])
    args = parser.parse_args()
    model = resolve_model(args.model)
    print(f"model: {Path(model).name if Path(model).is_dir() else model}; {os.cpu_count()} CPUs")
    if args.only in (None, "batching"):
        bench_batching(model, args.concurrency, args.rounds)
    if args.only in (None, "pipeline"):
        bench_pipeline(model, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
