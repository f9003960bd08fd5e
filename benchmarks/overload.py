"""`python -m benchmarks.overload`: the pipeline at ten times the load it can serve.

    python -m benchmarks.overload [--model DIR_OR_ID] [--clients 200] [--seconds 30]
                                  [--admission latency|fixed]

Starts the local stack (three Runpod local API servers and the orchestrator, with the
admission given), warms it up, then runs `POST /classify` closed loop, one level after the
other on the same stack:
1. unloaded: one client;
2. concurrency 16;
3. overload: --clients clients for --seconds.
Every client honours Retry-After (benchmarks/pipeline.py). It prints, for each level, the
texts/s, the p50/p95 of the admitted requests (the 200s), the 429s and how fast they came,
the median admission limit the orchestrator reported (/metrics, every half second), and the
goals of admission (issue 17): at overload, the admitted p50 at most 2x the unloaded
p50, the p95 of a 429 under 50 ms, and texts/s at least 0.9x those at concurrency 16. It
takes about two minutes on a 2-core CPU machine; --admission fixed measures the same with
MAX_IN_FLIGHT alone, for comparison.
"""

import argparse
import asyncio
import logging
import re
import statistics
import time

import httpx

from benchmarks.load import ms_since
from benchmarks.machine import load_average, this_machine
from benchmarks.model_choice import choose_model
from benchmarks.pipeline import Level, client_for, run_level
from benchmarks.workload import review_texts
from scripts.local_stack import LocalStack, free_port

MAX_ADMITTED_P50_X_UNLOADED = 2.0
MAX_SHED_P95_MS = 50.0
MIN_THROUGHPUT_X_CONCURRENCY_16 = 0.9
COMPARED_CONCURRENCY = 16
# The workers' CPU priority below the orchestrator's and the clients' (nice): on Runpod they
# run on machines of their own, so the model's forward passes never delay the orchestrator's
# answers; on one small machine they would, whatever admission did.
WORKER_NICENESS = 10
LIMIT_EVERY_S = 0.5
_LIMIT = re.compile(r"^orchestrator_admission_limit (\S+)$", re.MULTILINE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overload", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", help="a directory or Hugging Face id (default: MODEL_ID)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0, help="of the overload level")
    parser.add_argument("--level-seconds", type=float, default=20.0, help="of the other levels")
    parser.add_argument("--admission", choices=["latency", "fixed"], default="latency")
    parser.add_argument(
        "--no-niceness",
        dest="niceness",
        action="store_false",
        help="run the workers at the orchestrator's CPU priority (default: lower, as if on "
        "machines of their own)",
    )
    return parser.parse_args()


async def measure(
    url: str, texts: list[str], args: argparse.Namespace
) -> tuple[list[Level], list[list[int]]]:
    """Each level, and the admission limits the orchestrator reported during it."""
    async with client_for(url, args.clients + 1) as client:
        # Warm-up: connections open, the first passes at each length are slower, and the
        # orchestrator measures its unloaded round trip.
        await run_level(client, texts, 1, 16, args.level_seconds)
        levels, limits = [], []
        for concurrency, seconds in (
            (1, args.level_seconds),
            (COMPARED_CONCURRENCY, args.level_seconds),
            (args.clients, args.seconds),
        ):
            seen: list[int] = []
            watcher = asyncio.create_task(_watch_limit(client, seen))
            # Bounded by time alone: every level runs as long as it is given.
            level, _ = await run_level(client, texts, concurrency, 10**9, seconds)
            watcher.cancel()
            levels.append(level)
            limits.append(seen)
    return levels, limits


async def _watch_limit(client: httpx.AsyncClient, seen: list[int]) -> None:
    """The orchestrator's admission limit, from /metrics, every LIMIT_EVERY_S."""
    while True:
        response = await client.get("/metrics")
        match = _LIMIT.search(response.text)
        if match:
            seen.append(round(float(match.group(1))))
        await asyncio.sleep(LIMIT_EVERY_S)


def report(levels: list[Level], limits: list[list[int]]) -> str:
    lines = [
        "| clients | seconds | texts/s | p50 ms (200s) | p95 ms (200s) | 429s | 429 p95 ms "
        "| limit | answers |",
        "| ------: | ------: | ------: | ------------: | ------------: | ---: | ---------: "
        "| ----: | ------- |",
    ]
    for level, seen in zip(levels, limits, strict=True):
        limit = f"{statistics.median(seen):g}" if seen else "-"
        lines.append(
            f"| {level.concurrency:>7} | {level.seconds:>7.1f} | {level.requests_per_s:>7.2f} "
            f"| {level.p50_ms:>13,.0f} | {level.p95_ms:>13,.0f} | {level.shed:>4} "
            f"| {level.shed_p95_ms:>10,.1f} | {limit:>5} | {level.answers_text()} |"
        )
    unloaded, compared, overload = levels
    checks = [
        (
            f"admitted p50 at {overload.concurrency} clients / unloaded p50",
            overload.p50_ms / unloaded.p50_ms,
            f"<= {MAX_ADMITTED_P50_X_UNLOADED:g}",
            overload.p50_ms <= MAX_ADMITTED_P50_X_UNLOADED * unloaded.p50_ms,
        ),
        (
            f"p95 of a 429 at {overload.concurrency} clients, ms",
            overload.shed_p95_ms,
            f"< {MAX_SHED_P95_MS:g}",
            overload.shed_p95_ms < MAX_SHED_P95_MS,
        ),
        (
            f"texts/s at {overload.concurrency} clients / at {COMPARED_CONCURRENCY}",
            overload.requests_per_s / compared.requests_per_s,
            f">= {MIN_THROUGHPUT_X_CONCURRENCY_16:g}",
            overload.requests_per_s >= MIN_THROUGHPUT_X_CONCURRENCY_16 * compared.requests_per_s,
        ),
    ]
    shed_share = overload.shed / max(1, sum(overload.answers.values()))
    lines += [
        "",
        f"at {overload.concurrency} clients, {shed_share:.0%} of the answers were 429s "
        "(each client waited Retry-After and sent again)",
        "",
        "## Goals (issue 17)",
    ]
    for name, value, goal, met in checks:
        lines.append(f"{name:<52} {value:>8.2f}  goal {goal:<6} {'met' if met else 'missed'}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.perf_counter()
    machine = this_machine()
    model = choose_model(args.model)
    texts = review_texts()
    print(f"machine: {machine.describe()}")
    print(f"model: {model.name} ({model.why})")
    ports = {n: free_port() for n in ("preprocess", "inference", "postprocess", "orchestrator")}
    env = {"MODEL_ID": str(model.path), "ADMISSION": args.admission, "LOG_LEVEL": "warning"}
    print(f"orchestrator: ADMISSION={args.admission}, the other settings from the environment")
    print("... starting the local pipeline", flush=True)
    niceness = WORKER_NICENESS if args.niceness else 0
    with LocalStack(
        env=env, ports=ports, without=["cpu_inference"], worker_niceness=niceness
    ) as stack:
        print(
            f"... unloaded, concurrency {COMPARED_CONCURRENCY}, then {args.clients} clients",
            flush=True,
        )
        levels, limits = asyncio.run(measure(stack.url, texts, args))
    print()
    print(f"## Overload: {model.name}, ADMISSION={args.admission}")
    print(f"machine: {machine.describe()}")
    print()
    print(report(levels, limits))
    print(
        f"\nwhole run {ms_since(started) / 1000:.0f} s; load average {machine.load_average} "
        f"at the start, {load_average()} at the end"
    )


if __name__ == "__main__":
    main()
