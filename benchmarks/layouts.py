"""The layouts side by side, in one run on the same texts: split, inline, single.

    python -m benchmarks.layouts [--model DIR_OR_ID] [--requests 64] [--level-seconds 20]

For each layout, the local stack of that layout (scripts/local_stack.py: exactly its
processes) serves POST /classify: p50 at concurrency 1, texts/s at concurrency 16, and the
CPU-seconds per request of every process (the workers, the orchestrator, this client) over
the concurrency-16 level. Beside them, measured in this process on the same texts first: the
naive pipeline (transformers' pipeline, one text at a time) and the batched-forward limit.
It prints the ratios and writes layouts.json to .cache/benchmark/ (--out).

Issue 15's targets, read from this output and never asserted by a test: inline at
concurrency 16 at least 0.75x the limit and 1.5x the naive pipeline, the orchestrator's own
cost at most 1 ms per hop.
"""

import argparse
import asyncio
import gc
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from benchmarks.baselines import Baseline, LoadedModel, batched_forward, naive_pipeline
from benchmarks.cpu_split import cpu_seconds
from benchmarks.load import closed_loop, ms_since, percentile
from benchmarks.machine import load_average, this_machine
from benchmarks.model_choice import choose_model
from benchmarks.workload import preprocessed, review_texts
from scripts.local_stack import LAYOUTS, REPO_ROOT, WORKERS, LocalStack, free_port

CONCURRENCY = 16
LIMIT_BATCH_SIZES = [4, 16, 1]
# /classify alone: the CPU inference (smart route) is not started in any layout. Admission
# is the fixed in-flight cap: this measures what each layout can serve, not what admission
# lets through (benchmarks.overload measures that).
STACK_ENV = {"CPU_INFERENCE_ENDPOINT": "", "ADMISSION": "fixed"}
# Requests to one endpoint per layout (the orchestrator's hops), for its cost per hop.
HOPS = {"split": 3, "inline": 1, "single": 1}


@dataclass
class LayoutRun:
    layout: str
    p50_ms_at_1: float
    texts_per_s: float
    requests: int
    seconds: float
    # CPU milliseconds per request of each process over the concurrency-16 level.
    cpu_ms_per_request: dict[str, float]

    @property
    def orchestrator_ms_per_hop(self) -> float:
        return self.cpu_ms_per_request["orchestrator"] / HOPS[self.layout]


async def _level(url: str, texts: list[str], concurrency: int, calls: int, seconds: float):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def call(i: int) -> float:
            started = time.perf_counter()
            response = await client.post("/classify", json={"text": texts[i % len(texts)]})
            response.raise_for_status()
            return ms_since(started)

        return await closed_loop(call, concurrency, calls, seconds)


def run_layout(layout: str, model: Path, texts: list[str], calls: int, seconds: float):
    ports = {name: free_port() for name in (*(n for n, _, _ in WORKERS), "orchestrator")}
    env = {"MODEL_ID": str(model), "LOG_LEVEL": "warning", **STACK_ENV}
    # /classify alone: no worker of a smart route (ONNX Runtime), in any layout.
    without = ["cpu_inference", "single_cpu"]
    with LocalStack(env=env, ports=ports, layout=layout, without=without) as stack:
        processes = {s.name: psutil.Process(s.process.pid) for s in stack.services if s.process}
        processes["client"] = psutil.Process()
        asyncio.run(_level(stack.url, texts, 4, 8, seconds))  # warm-up
        at_1 = asyncio.run(_level(stack.url, texts, 1, calls, seconds))
        before = {name: cpu_seconds(p) for name, p in processes.items()}
        loaded = asyncio.run(_level(stack.url, texts, CONCURRENCY, calls * 2, seconds))
        used = {name: cpu_seconds(p) - before[name] for name, p in processes.items()}
    served = len(loaded.results)
    return LayoutRun(
        layout=layout,
        p50_ms_at_1=round(percentile(at_1.results, 0.5), 1),
        texts_per_s=round(loaded.per_second, 2),
        requests=served,
        seconds=round(loaded.seconds, 2),
        cpu_ms_per_request={k: round(v * 1000 / served, 2) for k, v in used.items()},
    )


def baselines(
    model: Path, texts: list[str], windows: list, seconds: float
) -> tuple[Baseline, Baseline]:
    """The naive pipeline and the batched-forward limit, in this process (batch 4 first: the
    fastest on a 2-core CPU in `make benchmark`'s runs)."""
    loaded = LoadedModel(model)
    naive = naive_pipeline(loaded, texts, seconds)
    limit = batched_forward(loaded, windows, LIMIT_BATCH_SIZES, seconds)
    del loaded
    gc.collect()
    return naive, limit


def report(machine: str, naive: Baseline, limit: Baseline, runs: list[LayoutRun]) -> str:
    lines = [
        f"machine: {machine}",
        f"naive pipeline: {naive.texts_per_s:.2f} texts/s; batched-forward limit: "
        f"{limit.texts_per_s:.2f} texts/s",
        "",
        f"| layout | p50 at 1 (ms) | texts/s at {CONCURRENCY} | x limit | x naive | "
        "orchestrator CPU ms per hop | CPU ms per request, by process |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        by_process = ", ".join(f"{k} {v:g}" for k, v in run.cpu_ms_per_request.items())
        lines.append(
            f"| {run.layout} | {run.p50_ms_at_1:g} | {run.texts_per_s:g} | "
            f"{run.texts_per_s / limit.texts_per_s:.2f} | {run.texts_per_s / naive.texts_per_s:.2f}"
            f" | {run.orchestrator_ms_per_hop:.2f} | {by_process} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a directory or Hugging Face id (default: MODEL_ID)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--requests", type=int, default=64, help="at concurrency 1, at most")
    parser.add_argument("--level-seconds", type=float, default=20.0, help="per level, at most")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="each, at most")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cache" / "benchmark")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    machine = this_machine()
    model = choose_model(args.model)
    texts = review_texts()
    print(f"machine: {machine.describe()}\nmodel: {model.name} ({model.why})", flush=True)

    windows = preprocessed(texts, model.path)
    print("... baselines", flush=True)
    naive, limit = baselines(model.path, texts, windows, args.baseline_seconds)
    runs = []
    for layout in args.layouts.split(","):
        print(f"... {layout}", flush=True)
        runs.append(run_layout(layout, model.path, texts, args.requests, args.level_seconds))
    # Again after the layouts, the best of both kept: a shared machine's load moves, and a
    # baseline measured in a busy moment would flatter every layout.
    print("... baselines again", flush=True)
    naive_after, limit_after = baselines(model.path, texts, windows, args.baseline_seconds)
    naive = max(naive, naive_after, key=lambda b: b.texts_per_s)
    limit = max(limit, limit_after, key=lambda b: b.texts_per_s)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": asdict(machine),
        "model": model.name,
        "naive_texts_per_s": naive.texts_per_s,
        "limit_texts_per_s": limit.texts_per_s,
        "layouts": [asdict(run) for run in runs],
        "load_average_at_end": load_average(),
    }
    (args.out / "layouts.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(machine.describe(), naive, limit, runs))
    print(
        f"load average {machine.load_average} at the start, {results['load_average_at_end']} "
        "at the end (the machine is shared: compare layouts within one run only)"
    )


if __name__ == "__main__":
    main()
