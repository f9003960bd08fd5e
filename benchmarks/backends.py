"""The inference worker's two CPU backends side by side, by text length: torch vs ONNX Runtime.

This sets SMART_MAX_CPU_TOKENS, the input size up to which `/classify-smart` sends a request
to the CPU inference endpoint (ONNX Runtime). For each token count on a grid (a text's tokens
over all its windows, special tokens included: what the orchestrator counts), one text of that
many tokens is cut into windows as the preprocess worker cuts it (at most the model's maximum
length, consecutive windows sharing WINDOW_OVERLAP_TOKENS), and each backend runs it through
the inference worker's own batcher with the worker's CPU settings (passes of at most
MAX_BATCH_SIZE windows, 4 on a CPU; no MAX_BATCH_WAIT_MS, which both endpoints pay alike):

- latency: one text at a time, p50 and p90 in ms;
- throughput: --batch texts at once (one job's items, or as many concurrent jobs: the batcher
  sees the same windows), in texts/s and tokens/s.

The rounds alternate the backends, so that a noisy machine slows both alike. It prints both
tables with the ONNX/torch ratio and the machine, each grid point's cost crossover (the GPU
billed time per text below which a GPU worker costs less than ONNX Runtime's p50 on a CPU
worker, at the default prices of contracts/pricing.py), and the pick: the largest token count
whose ONNX Runtime p50, and that of every smaller one, is within --budget-ms.

The models are random (weights made offline by scripts/make_tiny_model.py, exported by
scripts/export_onnx.py, both once under .cache/): their timings are a real model's of the same
shape. The base size (DistilBERT-base) is the default model's.

    python -m benchmarks.backends [--model base|tiny] [--tokens 16,32,...,2048]
        [--seconds 2] [--batch 8] [--budget-ms 50]
"""

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.load import percentile
from benchmarks.machine import this_machine
from benchmarks.token_texts import SPECIAL_TOKENS, text_windows
from contracts.pricing import StagePrices
from contracts.windows import window_stride
from inference_worker.batcher import WindowBatcher
from inference_worker.onnx_backend import OnnxClassifier
from inference_worker.settings import InferenceSettings
from inference_worker.torch_backend import TorchClassifier
from preprocess_worker.settings import PreprocessSettings
from scripts.export_onnx import export_in_subprocess
from scripts.local_stack import REPO_ROOT
from scripts.make_tiny_model import ensure_random_model
from worker_runtime.model_files import ONNX_MODEL_FILE

EXPORTS = REPO_ROOT / ".cache" / "onnx-models"
MODELS = {
    "tiny": REPO_ROOT / ".cache" / "tiny-model",
    "base": REPO_ROOT / ".cache" / "base-model",
}
ROUNDS = 4
MIN_ROUNDS = 2
BACKENDS = ("torch", "onnx")


def exported(size: str) -> Path:
    """A copy of the random model of `size` with its model.onnx, made once."""
    target = EXPORTS / size
    if (target / ONNX_MODEL_FILE).is_file():
        return target
    source = ensure_random_model(MODELS[size], size=size)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    if failure := export_in_subprocess(target):
        raise RuntimeError(f"the ONNX export of the {size} model failed: {failure}")
    return target


# The rule --------------------------------------------------------------------------------


def pick_max_cpu_tokens(onnx_p50_ms: Mapping[int, float], budget_ms: float) -> int | None:
    """SMART_MAX_CPU_TOKENS: the largest token count whose ONNX Runtime p50 for one text, and
    that of every smaller count, is within the budget (a noisy point past the first one over
    the budget does not count); None when even the smallest is over."""
    picked = None
    for tokens in sorted(onnx_p50_ms):
        if onnx_p50_ms[tokens] > budget_ms:
            break
        picked = tokens
    return picked


def gpu_break_even_ms(cpu_ms: float, cpu_usd_per_s: float, gpu_usd_per_s: float) -> float:
    """The GPU worker's billed time for the same text below which it costs less than `cpu_ms`
    on a CPU worker."""
    return cpu_ms * cpu_usd_per_s / gpu_usd_per_s


# Measuring -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One backend at one grid point, over all rounds."""

    latencies_s: list[float] = field(default_factory=list)
    batch_texts: int = 0
    batch_seconds: float = 0.0

    def p_ms(self, q: float) -> float:
        return percentile(self.latencies_s, q) * 1000

    @property
    def texts_per_s(self) -> float:
        return self.batch_texts / self.batch_seconds


def make_batcher(
    backend: TorchClassifier | OnnxClassifier, settings: InferenceSettings
) -> WindowBatcher:
    """The worker's batcher on a CPU, without the wait for company (a setting, not the
    backend's cost: both endpoints pay it alike)."""
    return WindowBatcher(
        backend.run_prepared,
        settings.batch_size_on("cpu"),
        max_batch_wait_ms=0,
        max_batch_tokens=settings.max_batch_tokens,
        prepare=backend.prepare,
        max_padding_share=settings.padding_share_on("cpu"),
    )


async def one_text(
    batcher: WindowBatcher, windows: list[list[int]], seconds: float, into: Measured
) -> None:
    """One text at a time, for `seconds` (at least once)."""
    started = time.perf_counter()
    while True:
        begun = time.perf_counter()
        await batcher.classify(windows)
        into.latencies_s.append(time.perf_counter() - begun)
        if time.perf_counter() - started >= seconds:
            return


async def many_texts(
    batcher: WindowBatcher, texts: list[list[list[int]]], seconds: float, into: Measured
) -> None:
    """All `texts` at once, again and again for `seconds` (at least once)."""
    started = time.perf_counter()
    while True:
        await asyncio.gather(*(batcher.classify(windows) for windows in texts))
        into.batch_texts += len(texts)
        if (elapsed := time.perf_counter() - started) >= seconds:
            into.batch_seconds += elapsed
            return


async def measure(
    batchers: Mapping[str, WindowBatcher], texts: list[list[list[int]]], seconds: float
) -> dict[str, Measured]:
    """Both backends on the same texts, alternating; about `seconds` per backend, half of it
    for latency (the first text) and half for throughput (all of them)."""
    results = {name: Measured() for name in batchers}
    for batcher in batchers.values():
        await batcher.classify(texts[0])  # warm-up: this shape's first-call allocations
    share = seconds / 2 / ROUNDS
    started = time.perf_counter()
    for done in range(1, ROUNDS + 1):
        for name, batcher in batchers.items():
            await one_text(batcher, texts[0], share, results[name])
        for name, batcher in batchers.items():
            await many_texts(batcher, texts, share, results[name])
        # Long texts overrun their share (each call runs once at least): fewer rounds, so
        # that the whole run stays within minutes.
        if done >= MIN_ROUNDS and time.perf_counter() - started >= seconds * len(batchers):
            break
    return results


# Reporting -------------------------------------------------------------------------------


def tables(
    grid: Iterable[tuple[int, int, dict[str, Measured]]], batch: int, prices: StagePrices
) -> str:
    """The latency and throughput tables (Markdown) for rows of (tokens, windows, results)."""
    rows = list(grid)
    latency = [
        "One text at a time (latency, ms; ONNX/torch: how many times faster ONNX Runtime is):",
        "",
        "| tokens | windows | torch p50 | torch p90 | ONNX p50 | ONNX p90 | ONNX/torch "
        "| GPU break-even ms |",
        "| -----: | ------: | --------: | --------: | -------: | -------: | ---------: "
        "| ----------------: |",
    ]
    throughput = [
        f"{batch} texts at once (throughput):",
        "",
        "| tokens | torch texts/s | ONNX texts/s | torch tokens/s | ONNX tokens/s | ONNX/torch |",
        "| -----: | ------------: | -----------: | -------------: | ------------: | ---------: |",
    ]
    for tokens, windows, result in rows:
        torch_run, onnx_run = result["torch"], result["onnx"]
        break_even = gpu_break_even_ms(onnx_run.p_ms(0.5), prices.inference_cpu, prices.inference)
        latency.append(
            f"| {tokens:>6} | {windows:>7} | {torch_run.p_ms(0.5):>9.1f} "
            f"| {torch_run.p_ms(0.9):>9.1f} | {onnx_run.p_ms(0.5):>8.1f} "
            f"| {onnx_run.p_ms(0.9):>8.1f} | {torch_run.p_ms(0.5) / onnx_run.p_ms(0.5):>9.2f}x "
            f"| {break_even:>17.2f} |"
        )
        throughput.append(
            f"| {tokens:>6} | {torch_run.texts_per_s:>13.1f} | {onnx_run.texts_per_s:>12.1f} "
            f"| {torch_run.texts_per_s * tokens:>14,.0f} | {onnx_run.texts_per_s * tokens:>13,.0f} "
            f"| {onnx_run.texts_per_s / torch_run.texts_per_s:>9.2f}x |"
        )
    return "\n".join([*latency, "", *throughput])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="base")
    parser.add_argument("--tokens", default="16,32,64,128,256,512,1024,2048")
    parser.add_argument("--seconds", type=float, default=2.0, help="per backend and grid point")
    parser.add_argument("--batch", type=int, default=8, help="texts at once, for throughput")
    parser.add_argument("--budget-ms", type=float, default=50.0)
    args = parser.parse_args()
    grid = sorted({int(n) for n in args.tokens.split(",")})
    machine = this_machine()
    model_dir = exported(args.model)
    backends = {
        "torch": TorchClassifier(model_dir, model_id=args.model, device="cpu"),
        "onnx": OnnxClassifier(model_dir, model_id=args.model),
    }
    max_length = backends["onnx"].max_length
    vocab_size = backends["onnx"].vocab_size
    overlap = PreprocessSettings().window_overlap_tokens
    stride = window_stride(max_length, SPECIAL_TOKENS, overlap)
    settings = InferenceSettings()
    prices = StagePrices()
    print(f"machine: {machine.describe()}; load average {machine.load_average}")
    print(
        f"model: random {args.model} size, windows of at most {max_length} tokens sharing "
        f"{stride} (WINDOW_OVERLAP_TOKENS={overlap}); passes of at most "
        f"{settings.batch_size_on('cpu')} windows; {args.seconds:g} s per backend and count",
        flush=True,
    )
    rng = np.random.default_rng(0)

    async def run_grid() -> list[tuple[int, int, dict[str, Measured]]]:
        batchers = {name: make_batcher(backend, settings) for name, backend in backends.items()}
        rows = []
        for total in grid:
            texts = [
                text_windows(rng, total, max_length, stride, vocab_size) for _ in range(args.batch)
            ]
            tokens = sum(map(len, texts[0]))
            rows.append((tokens, len(texts[0]), await measure(batchers, texts, args.seconds)))
            print(f"... {tokens} tokens done", file=sys.stderr, flush=True)
        return rows

    started = time.perf_counter()
    rows = asyncio.run(run_grid())
    print()
    print(tables(rows, args.batch, prices))
    onnx_p50 = {tokens: result["onnx"].p_ms(0.5) for tokens, _, result in rows}
    picked = pick_max_cpu_tokens(onnx_p50, args.budget_ms)
    print()
    print(
        f"GPU break-even: the GPU worker's billed time per text below which it costs less than "
        f"ONNX Runtime's p50 on a CPU worker (${prices.inference_cpu}/s CPU, "
        f"${prices.inference}/s GPU)."
    )
    if picked is None:
        print(f"SMART_MAX_CPU_TOKENS: none; even {grid[0]} tokens is over {args.budget_ms:g} ms")
    else:
        print(
            f"SMART_MAX_CPU_TOKENS = {picked}: the largest count whose ONNX Runtime p50 for one "
            f"text ({onnx_p50[picked]:.1f} ms), and every smaller one's, is within "
            f"{args.budget_ms:g} ms"
        )
    print(
        f"whole run {time.perf_counter() - started:.0f} s; load average "
        f"{machine.load_average} at the start, {this_machine().load_average} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
