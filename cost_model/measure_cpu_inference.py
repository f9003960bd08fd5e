"""Measure the CPU inference endpoint for the smart layout: its time per request, by tokens.

    python -m cost_model.measure_cpu_inference [--model DIR] [--tokens 8,16,...,1024]
                                               [--rounds 20] [--out FILE.jsonl]

The smart layout sends a request of few tokens to the inference worker run with BACKEND=onnx
(ONNX Runtime on CPU), whose time grows with the request's tokens. This measures it as
measure.py measures the other stages, on the same worker code:

1. Cold start: the worker alone, BACKEND=onnx, process start until its API answers, a few
   times; the median is kept.
2. Times: the same worker in Runpod's local API mode, one job at a time: one text of N
   tokens, in windows of at most the model's length as preprocess cuts them, for each N; the
   Ns take turns for ROUNDS rounds, and the fastest round trip of each is kept (one local HTTP
   hop included, as in the other stages' times): on a shared machine, the one least slowed by
   other processes (a Runpod worker has its vCPUs to itself). The median is recorded beside
   it (5% to 25% slower on a 2-core machine with nothing else running), and the load average
   before and after in the header: run it while nothing else runs.

Default model: the DistilBERT-base-sized random model (scripts/make_tiny_model.py --size base)
exported to ONNX, made offline: the default model's shape and so its times, without a download.
Writes JSONL: a header record (machine, model, cold start), then one record per N.
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from tokenizers import Tokenizer

from benchmarks.token_texts import SPECIAL_TOKENS, text_windows
from contracts import Endpoint
from contracts.windows import window_stride
from cost_model.cpu_inference_times import SHIPPED
from cost_model.measure import machine, serving, time_cold_start
from worker_runtime.model_files import max_sequence_length, tokenizer_fingerprint
from worker_runtime.settings import ModelWorkerSettings

DEFAULT_TOKENS = "8,16,32,64,96,128,192,256,512,1024"
FOLDER = "inference_worker"


def base_model() -> tuple[Path, str]:
    # Imported here: the export needs torch, which only measuring does.
    from benchmarks.backends import exported

    return exported("base"), "random DistilBERT-base-sized (scripts/make_tiny_model.py --size base)"


def job(
    tokens: int,
    max_length: int,
    stride: int,
    vocab_size: int,
    fingerprint: str,
    rng: np.random.Generator,
) -> dict:
    """One text of `tokens` tokens (every window's, special included, as the orchestrator
    counts them), cut into windows where the preprocess worker cuts it."""
    windows = [
        {"index": i, "input_ids": ids, "char_start": 0, "char_end": 1}
        for i, ids in enumerate(text_windows(rng, tokens, max_length, stride, vocab_size))
    ]
    return {"input": {"windows": windows, "tokenizer_fingerprint": fingerprint}}


def measure_times(
    url: str, model_dir: Path, token_counts: list[int], rounds: int
) -> dict[int, list[float]]:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    fingerprint = tokenizer_fingerprint(
        Tokenizer.from_file(str(model_dir / "tokenizer.json")).to_str()
    )
    max_length = max_sequence_length(model_dir)
    stride = window_stride(max_length, SPECIAL_TOKENS, ModelWorkerSettings().window_overlap_tokens)
    rng = np.random.default_rng(0)
    # Largest first: a small job right after the largest measured slower than after its
    # neighbour in size, which only a sweep from 8 to 1,024 tokens does.
    payloads = {
        n: job(n, max_length, stride, int(config["vocab_size"]), fingerprint, rng)
        for n in sorted(token_counts, reverse=True)
    }
    times: dict[int, list[float]] = {n: [] for n in token_counts}
    with httpx.Client(base_url=url, timeout=120) as client:
        for round_number in range(-2, rounds):  # two warm-up rounds, not recorded
            for n, payload in payloads.items():
                started = time.perf_counter()
                response = client.post("/runsync", json=payload)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if response.json().get("status") != "COMPLETED":
                    raise RuntimeError(f"{n} tokens: the worker answered {response.text[:300]}")
                if round_number >= 0:
                    times[n].append(elapsed)
    return dict(sorted(times.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local model directory with model.onnx")
    parser.add_argument("--tokens", default=DEFAULT_TOKENS, help=f"default {DEFAULT_TOKENS}")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cold-start-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    token_counts = sorted({int(n) for n in args.tokens.split(",")})
    if token_counts[0] < 2:
        parser.error("--tokens: a text has at least 2 tokens ([CLS] and [SEP])")
    model_dir, model_name = (args.model.resolve(), args.model.name) if args.model else base_model()
    env = {
        **os.environ,
        "MODEL_ID": str(model_dir),
        "BACKEND": "onnx",
        "RUNPOD_LOG_LEVEL": "WARN",
        "PYTHONUNBUFFERED": "1",
    }
    # Other processes' load before and after: on a shared machine, how noisy the run was.
    load_before = os.getloadavg()[0]
    print("measuring the cold start", file=sys.stderr)
    cold = statistics.median(time_cold_start(FOLDER, env) for _ in range(args.cold_start_runs))
    print(f"  inference_cpu cold start {cold:.2f} s", file=sys.stderr)
    print(f"measuring {len(token_counts)} sizes x {args.rounds} rounds", file=sys.stderr)
    with serving(FOLDER, env) as (url, _):
        times = measure_times(url, model_dir, token_counts, args.rounds)
    header = {
        "machine": {**machine(), "load_average": [load_before, os.getloadavg()[0]]},
        "model": model_name,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m cost_model.measure_cpu_inference",
        "cold_start_s": {Endpoint.INFERENCE_CPU.value: round(cold, 3)},
        "cold_start_note": "process start to API ready, BACKEND=onnx, median; no container start",
        "times_note": f"one job at a time; round_trip_ms: the fastest of {args.rounds}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header, separators=(",", ":")) + "\n")
        for n, seconds in times.items():
            median_ms, fastest_ms = statistics.median(seconds) * 1000, min(seconds) * 1000
            record = {"tokens": n, "round_trip_ms": round(fastest_ms, 3)}
            out.write(json.dumps({**record, "median_ms": round(median_ms, 3)}) + "\n")
            print(f"  {n:>5} tokens {fastest_ms:8.1f} ms (median {median_ms:.1f})", file=sys.stderr)
    print(f"wrote {len(times)} records to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
