"""The layouts side by side, in one run on the same texts: split, inline, single.

    python -m benchmarks.layouts [--model DIR_OR_ID] [--requests 64] [--level-seconds 20]

For each layout, the local stack of that layout (scripts/local_stack.py: exactly its
processes) serves POST /classify: p50 at concurrency 1, texts/s at concurrency 16, and the
CPU-seconds per request of every process (the workers, the orchestrator, this client) over
the concurrency-16 level. Of the orchestrator's, the share of the stages it runs in process
(LAYOUT=inline) comes from its own /metrics (orchestrator_in_process_cpu_seconds_total, read
before and after the level): what is left, over the hops it makes, is its own cost per hop.
Beside them, measured in this process on the same texts: the naive pipeline (transformers'
pipeline, one text at a time) and the batched-forward limit. It prints the ratios and
writes layouts.json to .cache/benchmark/ (--out).

`make benchmark` runs the same layouts (`run_layouts`) against the baselines it measures
itself, and writes this table into its results.json too.

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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.baselines import Baseline, LoadedModel, batched_forward, faster, naive_pipeline
from benchmarks.cpu_split import cpu_seconds
from benchmarks.load import closed_loop, ms_since, percentile
from benchmarks.machine import Machine, load_average, this_machine
from benchmarks.model_choice import choose_model
from benchmarks.targets import Target, against_baselines, verdicts
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
IN_PROCESS_CPU = "orchestrator_in_process_cpu_seconds_total"
# Issue 15's targets, for a 2-core CPU machine.
TARGET_INLINE_OF_LIMIT = 0.75
TARGET_INLINE_OF_NAIVE = 1.5
TARGET_OWN_MS_PER_HOP = 1.0


@dataclass
class LayoutRun:
    layout: str
    p50_ms_at_1: float
    texts_per_s: float
    requests: int
    seconds: float
    # CPU milliseconds per request of each process over the concurrency-16 level.
    cpu_ms_per_request: dict[str, float]
    # Of the orchestrator's: the stages it ran in process, by stage (none outside inline).
    in_process_cpu_ms_per_request: dict[str, float]

    @property
    def hops(self) -> int:
        return HOPS[self.layout]

    @property
    def stages_ms_per_request(self) -> float:
        return sum(self.in_process_cpu_ms_per_request.values())

    @property
    def own_ms_per_request(self) -> float:
        """The orchestrator's CPU less the stages it ran in process."""
        return self.cpu_ms_per_request["orchestrator"] - self.stages_ms_per_request

    @property
    def own_ms_per_hop(self) -> float:
        return self.own_ms_per_request / self.hops


def marginal_hop_ms(runs: list[LayoutRun]) -> float | None:
    """What one more hop costs the orchestrator, from two layouts of one run that differ in
    hops (split's three, inline's one): the rest of its own CPU is paid once per request
    (serving HTTP, checks, the answer), whatever the layout."""
    by_layout = {run.layout: run for run in runs}
    if "split" not in by_layout or "inline" not in by_layout:
        return None
    split, inline = by_layout["split"], by_layout["inline"]
    return (split.own_ms_per_request - inline.own_ms_per_request) / (split.hops - inline.hops)


def in_process_cpu_seconds(url: str) -> dict[str, float]:
    """The orchestrator's in-process stage CPU so far, by stage, from its /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    return {
        sample.labels["stage"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == IN_PROCESS_CPU
    }


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
        # Scraped outside the CPU window, so the scrapes' own CPU is not counted in it.
        stages_before = in_process_cpu_seconds(stack.url)
        before = {name: cpu_seconds(p) for name, p in processes.items()}
        loaded = asyncio.run(_level(stack.url, texts, CONCURRENCY, calls * 2, seconds))
        used = {name: cpu_seconds(p) - before[name] for name, p in processes.items()}
        stages = {
            stage: spent - stages_before.get(stage, 0.0)
            for stage, spent in in_process_cpu_seconds(stack.url).items()
        }
    served = len(loaded.results)

    def per_request(cpu: dict[str, float]) -> dict[str, float]:
        return {name: round(value * 1000 / served, 2) for name, value in cpu.items()}

    return LayoutRun(
        layout=layout,
        p50_ms_at_1=round(percentile(at_1.results, 0.5), 1),
        texts_per_s=round(loaded.per_second, 2),
        requests=served,
        seconds=round(loaded.seconds, 2),
        cpu_ms_per_request=per_request(used),
        in_process_cpu_ms_per_request=per_request(stages),
    )


def run_layouts(
    layouts: list[str],
    model: Path,
    texts: list[str],
    calls: int,
    seconds: float,
    step: Callable[[str], None] = print,
) -> list[LayoutRun]:
    """Each layout's stack in turn, on the same texts."""
    runs = []
    for layout in layouts:
        step(f"layout {layout}: p50 at concurrency 1, texts/s at {CONCURRENCY}")
        runs.append(run_layout(layout, model, texts, calls, seconds))
    return runs


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
        f"orchestrator: {', '.join(f'{k}={v}' for k, v in STACK_ENV.items())}; "
        f"naive pipeline: {naive.texts_per_s:.2f} texts/s; batched-forward limit: "
        f"{limit.texts_per_s:.2f} texts/s",
        "",
        f"| layout | p50 at 1 (ms) | texts/s at {CONCURRENCY} | x limit | x naive | "
        "orchestrator CPU ms per request | of which stages in process | hops | "
        "orchestrator own CPU ms per hop | CPU ms per request, by process |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        by_process = ", ".join(f"{k} {v:g}" for k, v in run.cpu_ms_per_request.items())
        lines.append(
            f"| {run.layout} | {run.p50_ms_at_1:g} | {run.texts_per_s:g} | "
            f"{run.texts_per_s / limit.texts_per_s:.2f} | {run.texts_per_s / naive.texts_per_s:.2f}"
            f" | {run.cpu_ms_per_request['orchestrator']:.2f} | {run.stages_ms_per_request:.2f}"
            f" | {run.hops} | {run.own_ms_per_hop:.2f} | {by_process} |"
        )
    return "\n".join(lines)


def targets(naive: Baseline, limit: Baseline, runs: list[LayoutRun]) -> str:
    """Issue 15's targets, met or missed and by how much (set for a 2-core CPU machine)."""
    checks = []
    inline = next((run for run in runs if run.layout == "inline"), None)
    if inline is not None:
        checks += against_baselines(
            f"inline, concurrency {CONCURRENCY}",
            inline.texts_per_s,
            naive,
            limit,
            TARGET_INLINE_OF_LIMIT,
            TARGET_INLINE_OF_NAIVE,
        )
    checks += [
        Target(f"{run.layout}: orchestrator own CPU ms per hop", run.own_ms_per_hop,
               TARGET_OWN_MS_PER_HOP, False)
        for run in runs
    ]  # fmt: skip
    hop_ms = marginal_hop_ms(runs)
    if hop_ms is not None:
        checks.append(
            Target("orchestrator CPU ms per added hop (split-inline)", hop_ms,
                   TARGET_OWN_MS_PER_HOP, False)
        )  # fmt: skip
    return verdicts("Targets (issue 15: 2-core CPU)", checks)


def results(
    machine: Machine, model: str, naive: Baseline, limit: Baseline, runs: list[LayoutRun]
) -> dict[str, Any]:
    """What layouts.json holds, and results.json's "layouts"."""
    return {
        "machine": asdict(machine),
        "model": model,
        "orchestrator_env": STACK_ENV,
        "concurrency": CONCURRENCY,
        "naive_texts_per_s": naive.texts_per_s,
        "limit_texts_per_s": limit.texts_per_s,
        "layouts": [
            {
                **asdict(run),
                "of_limit": round(run.texts_per_s / limit.texts_per_s, 3),
                "of_naive": round(run.texts_per_s / naive.texts_per_s, 3),
                "hops": run.hops,
                "orchestrator_own_ms_per_hop": round(run.own_ms_per_hop, 3),
            }
            for run in runs
        ],
        "orchestrator_ms_per_added_hop": marginal_hop_ms(runs),
        "load_average_at_end": load_average(),
    }


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
    _progress("baselines")
    naive, limit = baselines(model.path, texts, windows, args.baseline_seconds)
    layouts = [layout for layout in args.layouts.split(",") if layout]
    runs = run_layouts(layouts, model.path, texts, args.requests, args.level_seconds, _progress)
    # Again after the layouts, the faster of each kept.
    _progress("baselines again")
    naive_after, limit_after = baselines(model.path, texts, windows, args.baseline_seconds)
    naive, limit = faster(naive, naive_after), faster(limit, limit_after)
    table = results(machine, model.name, naive, limit, runs)
    write(args.out, table)
    print(report(machine.describe(), naive, limit, runs))
    print(targets(naive, limit, runs))
    print(
        f"load average {machine.load_average} at the start, {table['load_average_at_end']} "
        "at the end (the machine is shared: compare layouts within one run only)"
    )


def write(out: Path, table: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "layouts.json"
    path.write_text(json.dumps(table, indent=2) + "\n")
    return path


def _progress(message: str) -> None:
    print(f"... {message}", flush=True)


if __name__ == "__main__":
    main()
