"""The inference worker's two CPU backends side by side: torch vs ONNX Runtime, same windows.

For each model (the tiny test model and the DistilBERT-base-sized random model, both made
offline by scripts/make_tiny_model.py and exported by scripts/export_onnx.py under .cache/),
each window length (16, 128, 512 tokens, capped at the model's maximum) and batch size (1, 4),
both backends run the same random windows through the worker's own classifiers
(`probabilities`, padding included), in alternating rounds so that a noisy machine slows both
alike. It prints windows/s for each and their ratio, with the machine.

    python -m benchmarks.backends [--seconds 2] [--lengths 16,128,512] [--batches 1,4]
"""

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.machine import this_machine
from contracts.model_source import ONNX_MODEL_FILE
from inference_worker.model import Classifier
from inference_worker.onnx_model import OnnxClassifier
from scripts.local_stack import REPO_ROOT
from scripts.make_tiny_model import ensure_random_model

EXPORTS = REPO_ROOT / ".cache" / "onnx-models"
MODELS = {
    "tiny": REPO_ROOT / ".cache" / "tiny-model",
    "base": REPO_ROOT / ".cache" / "base-model",
}
ROUNDS = 4


def exported(size: str) -> Path:
    """A copy of the random model of `size` with its model.onnx, made once."""
    target = EXPORTS / size
    if (target / ONNX_MODEL_FILE).is_file():
        return target
    source = ensure_random_model(MODELS[size], size=size)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    # Its own process: the export's tracing leaves state behind that is no part of a worker.
    subprocess.run(
        [sys.executable, "-m", "scripts.export_onnx", str(target)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    return target


def windows_per_second(
    run: Callable[[Sequence[Sequence[int]]], object], batch: list[list[int]], seconds: float
) -> float:
    run(batch)  # warm-up: first-call allocations
    passes = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        run(batch)
        passes += 1
    return passes * len(batch) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per backend and round")
    parser.add_argument("--lengths", default="16,128,512")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--models", default="tiny,base")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    batches = [int(n) for n in args.batches.split(",")]
    print(f"machine: {this_machine().describe()}")
    print(
        f"{'model':<6} {'tokens':>6} {'batch':>5} {'torch w/s':>10} {'onnx w/s':>10} {'ratio':>6}"
    )
    rng = np.random.default_rng(0)
    for size in args.models.split(","):
        model_dir = exported(size)
        torch_backend = Classifier(model_dir, model_id=size, device="cpu")
        onnx_backend = OnnxClassifier(model_dir, model_id=size)
        # Lengths past the model's maximum run at the maximum, once.
        for tokens in sorted({min(length, onnx_backend.max_length) for length in lengths}):
            for batch_size in batches:
                batch = [
                    [2, *rng.integers(5, onnx_backend.vocab_size, tokens - 2).tolist(), 3]
                    for _ in range(batch_size)
                ]
                rates: dict[str, list[float]] = {"torch": [], "onnx": []}
                for _ in range(ROUNDS):
                    share = args.seconds / ROUNDS
                    rates["torch"].append(
                        windows_per_second(torch_backend.probabilities, batch, share)
                    )
                    rates["onnx"].append(
                        windows_per_second(onnx_backend.probabilities, batch, share)
                    )
                torch_rate = float(np.median(rates["torch"]))
                onnx_rate = float(np.median(rates["onnx"]))
                print(
                    f"{size:<6} {tokens:>6} {batch_size:>5} {torch_rate:>10.1f} "
                    f"{onnx_rate:>10.1f} {onnx_rate / torch_rate:>5.2f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
