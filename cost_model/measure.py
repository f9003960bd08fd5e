"""Measure the cost model's inputs on this machine: stage times and worker cold starts.

    python -m cost_model.measure [--model DIR_OR_ID] [--requests 200] [--out FILE.jsonl]
    python -m cost_model.measure --cold-start-only orchestrator [--out FILE.jsonl]

1. Cold starts: each worker alone, `python handler.py --rp_serve_api` in its folder as
   Runpod's local mode runs it, timed from process start until its API answers (imports,
   model load, server up), a few times each; the median is kept. The orchestrator's:
   `python -m orchestrator` until it answers /ping. On Runpod a cold start adds the
   container's start and, on a host without the image, its pull (`--image-pull`).
   `--cold-start-only NAMES` measures only those and writes them into FILE's header,
   keeping its records and its other figures.
2. Stage times: the whole local stack (three Runpod local API servers and the orchestrator),
   REQUESTS `POST /classify` one at a time, so each stage's time is one job alone. Runpod's
   local API server reports no execution time: the stage's round trip stands for it (one
   local HTTP hop included).

Writes JSONL: a header record (machine, model, cold starts), then each answer's `timings`.
Without --model it uses the tiny random model (made if missing), so it runs offline.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cost_model.stage_times import SHIPPED, STAGES
from scripts.local_stack import (
    REPO_ROOT,
    WORKERS,
    LocalStack,
    free_port,
    stop_processes,
    wait_until_answers,
)

# The three stages /classify runs.
PIPELINE_WORKERS = [w for w in WORKERS if w[0] != "cpu_inference"]

TINY_MODEL = REPO_ROOT / ".cache" / "tiny-model"
# Review-like texts of three sizes, cycled so most requests are short, as reviews are.
SHORT = "Great product, works as described and arrived on time."
MEDIUM = (
    "I was not sure about this one at first. The setup took a while and the manual is thin, "
    "but once it ran it did everything I needed, quietly and without fuss. Support answered "
    "my one question within a day. "
)
LONG = MEDIUM * 6
TEXT_MIX = [SHORT] * 6 + [MEDIUM] * 3 + [LONG]


def machine() -> dict:
    cpu_model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    if shutil.which("nvidia-smi"):
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        gpu = listing.stdout.splitlines()[0].split(" (UUID")[0] if listing.stdout else None
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "gpu": gpu,
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }


def resolve_model(arg: str | None) -> tuple[str, str]:
    """The model to load, and how to name it in the output (never a local path)."""
    if arg:
        path = Path(arg)
        return (str(path.resolve()), path.name) if path.is_dir() else (arg, arg)
    if not (TINY_MODEL / "config.json").exists():
        from scripts.make_tiny_model import write_tiny_model

        write_tiny_model(TINY_MODEL)
    return str(TINY_MODEL), "tiny random DistilBERT (scripts/make_tiny_model.py)"


@contextmanager
def running(
    command: list[str], cwd: Path, env: dict[str, str], ready_url: str, name: str, timeout_s: float
) -> Iterator[float]:
    """`command` as a process: the seconds from its start until `ready_url` answered (imports,
    model load, server up). Stopped on leaving."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Asked often: the time until it answers is the measurement.
        wait_until_answers(process, ready_url, timeout_s, name, poll_s=0.02)
        yield time.perf_counter() - started
    finally:
        stop_processes([process], 15)


@contextmanager
def serving(
    folder: str, env: dict[str, str], timeout_s: float = 180.0
) -> Iterator[tuple[str, float]]:
    """A worker in Runpod's local API mode, `python handler.py --rp_serve_api` in its folder:
    its URL, and the seconds from process start until its API answered. Stopped on leaving."""
    port = free_port()
    command = [sys.executable, "handler.py", "--rp_serve_api", "--rp_api_port", str(port)]
    command += ["--rp_api_host", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    ready = f"{base}/openapi.json"
    with running(command, REPO_ROOT / folder, env, ready, folder, timeout_s) as seconds:
        yield base, seconds


def time_cold_start(folder: str, env: dict[str, str], timeout_s: float = 180.0) -> float:
    with serving(folder, env, timeout_s) as (_, seconds):
        return seconds


def time_orchestrator_cold_start(env: dict[str, str], timeout_s: float = 60.0) -> float:
    """Seconds from `python -m orchestrator` starting until it answers /ping."""
    port = free_port()
    env = {**env, "PORT": str(port), "HOST": "127.0.0.1"}
    command = [sys.executable, "-m", "orchestrator"]
    ready = f"http://127.0.0.1:{port}/ping"
    with running(command, REPO_ROOT, env, ready, "orchestrator", timeout_s) as seconds:
        return seconds


COLD_STARTS = [*(w[0] for w in PIPELINE_WORKERS), "orchestrator"]


def measure_cold_starts(model: str, runs: int, only: list[str] = COLD_STARTS) -> dict[str, float]:
    env = {**os.environ, "MODEL_ID": model, "RUNPOD_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    folders = {stage: folder for stage, folder, _ in PIPELINE_WORKERS}
    cold = {}
    # The CPU inference worker's (BACKEND=onnx) is measured by measure_cpu_inference.py.
    for stage in only:
        if stage == "orchestrator":
            times = [time_orchestrator_cold_start(env) for _ in range(runs)]
        else:
            times = [time_cold_start(folders[stage], env) for _ in range(runs)]
        cold[stage] = round(statistics.median(times), 3)
        print(f"  {stage:<12} cold start {cold[stage]:.2f} s (median of {runs})", file=sys.stderr)
    return cold


def update_cold_starts(path: Path, model: str, runs: int, only: list[str]) -> None:
    """Measure `only`'s cold starts and write them into `path`'s header, records kept."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    if "machine" not in header:
        raise SystemExit(f"{path.name}: its first line is not a header (no machine)")
    cold = measure_cold_starts(model, runs, only)
    header["cold_start_s"] = {**header.get("cold_start_s", {}), **cold}
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header.setdefault("cold_start_updates", {}).update(
        {
            name: f"measured {when} by python -m cost_model.measure --cold-start-only {name}, "
            f"on {machine()['cores']} cores (load average {load})"
            for name in cold
        }
    )
    lines[0] = json.dumps(header, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {', '.join(cold)} into {path}'s header", file=sys.stderr)


def measure_stage_times(model: str, requests: int) -> list[dict]:
    ports = {n: free_port() for n in (*(w[0] for w in PIPELINE_WORKERS), "orchestrator")}
    records = []
    with (
        # /classify alone, which never calls the CPU inference worker: it is not started.
        LocalStack(env={"MODEL_ID": model}, ports=ports, without=["cpu_inference"]) as stack,
        httpx.Client(base_url=stack.url, timeout=120) as client,
    ):
        for i in range(-5, requests):  # five warm-up requests, not recorded
            text = TEXT_MIX[i % len(TEXT_MIX)]
            response = client.post("/classify", json={"text": text})
            response.raise_for_status()
            if i >= 0:
                records.append({"chars": len(text), "timings": response.json()["timings"]})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="default: MODEL_ID, else the tiny random model")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold-start-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument(
        "--cold-start-only",
        help=f"comma-separated, of {', '.join(COLD_STARTS)}: measure these cold starts only "
        "and write them into --out's header, keeping its records",
    )
    args = parser.parse_args()
    model, model_name = resolve_model(args.model or os.environ.get("MODEL_ID"))
    if args.cold_start_only:
        only = [name.strip() for name in args.cold_start_only.split(",") if name.strip()]
        unknown = [name for name in only if name not in COLD_STARTS]
        if unknown:
            parser.error(f"--cold-start-only: unknown {unknown} (one of {', '.join(COLD_STARTS)})")
        update_cold_starts(args.out, model, args.cold_start_runs, only)
        return
    print("measuring cold starts", file=sys.stderr)
    cold = measure_cold_starts(model, args.cold_start_runs)
    print(f"measuring stage times: {args.requests} x POST /classify", file=sys.stderr)
    records = measure_stage_times(model, args.requests)
    header = {
        "machine": machine(),
        "model": model_name,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m cost_model.measure",
        "cold_start_s": cold,
        "cold_start_note": "process start to API ready, median; no container start or pull",
        "stage_times_note": "one request at a time; round_trip_ms stands for execution",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for record in [header, *records]:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    for stage in STAGES:
        mean = statistics.fmean(r["timings"][stage]["round_trip_ms"] for r in records)
        print(f"  {stage:<12} mean round trip {mean:.1f} ms", file=sys.stderr)
    print(f"wrote {len(records)} records to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
