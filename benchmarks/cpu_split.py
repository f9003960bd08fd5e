"""Where the CPU goes: each process of the local pipeline under load, in CPU-seconds.

    python -m benchmarks.cpu_split [--model DIR] [--concurrency 16] [--seconds 15]

The local stack (three Runpod local API servers and the orchestrator) serves POST /classify
at the given concurrency, closed loop, on the benchmark's texts; the CPU time each process
(and this client) used over the measured window is printed beside the machine's total. It
says which process to profile next (e.g. `py-spy record -p PID`), not what inside it.
"""

import argparse
import asyncio
import os
import time

import httpx
import psutil

from benchmarks.load import closed_loop
from benchmarks.model_choice import choose_model
from benchmarks.workload import review_texts
from scripts.local_stack import LocalStack, free_port


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _load(url: str, texts: list[str], concurrency: int, seconds: float) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def call(i: int) -> None:
            response = await client.post("/classify", json={"text": texts[i % len(texts)]})
            response.raise_for_status()

        loop = await closed_loop(call, concurrency, max_calls=10**9, max_seconds=seconds)
        return len(loop.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    model = choose_model(args.model)
    texts = review_texts()
    ports = {n: free_port() for n in ("preprocess", "inference", "postprocess", "orchestrator")}
    # Every request of the load admitted: this measures where CPU goes, not admission.
    env = {"MODEL_ID": str(model.path), "LOG_LEVEL": "warning", "ADMISSION": "fixed"}
    # /classify alone, which never calls the CPU inference worker: it is not started.
    with LocalStack(env=env, ports=ports, without=["cpu_inference"]) as stack:
        processes = {s.name: psutil.Process(s.process.pid) for s in stack.services}
        processes["client"] = psutil.Process()
        asyncio.run(_load(stack.url, texts, args.concurrency, 3.0))  # warm-up
        before = {name: cpu_seconds(p) for name, p in processes.items()}
        started = time.perf_counter()
        served = asyncio.run(_load(stack.url, texts, args.concurrency, args.seconds))
        wall = time.perf_counter() - started
        used = {name: cpu_seconds(p) - before[name] for name, p in processes.items()}
    cores = os.cpu_count() or 1
    print(f"model: {model.name}; {cores} cores; concurrency {args.concurrency}")
    print(f"{served} requests in {wall:.1f} s ({served / wall:.2f}/s)")
    print(f"CPU-seconds used, of the machine's {cores * wall:.1f}:")
    for name, seconds in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {name:<12} {seconds:6.1f}  ({seconds / served * 1000:.0f} ms per request)")


if __name__ == "__main__":
    main()
