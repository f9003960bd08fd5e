"""The inference worker on a GPU, in one short run: what to measure the first time one is lent.

- precision: float16 and bfloat16 against float32 on the same windows (the largest
  probability difference, and the share of windows whose label agrees);
- throughput: windows/s of the inference worker's own handler (its batcher, checks and
  answers) with 1, 16 and 64 jobs in flight, against the raw batched forward pass over the
  same windows (the worker's batch size, nothing around it); and at 64 jobs again with the
  other padding rule (MAX_PADDING_SHARE: a pass cut into narrower ones of similar lengths,
  the CPU default, against the whole pass, the GPU default), to settle the GPU's default;
- cold start, in a fresh process: the imports, the model's load onto the device, the first
  pass;
- the device, its driver and CUDA.

The model is random, the default model's shape (scripts/make_tiny_model.py --size base,
made offline), so its timings are the real model's. All results go to one JSON file. On a
machine without a GPU it says so and exits 0; `--device cpu` runs the same logic on the CPU
(the tests do, with the tiny model), whose figures are not a GPU's.

    python -m benchmarks.gpu [--device cuda|cpu] [--model base|tiny] [--seconds 8]
        [--texts 64] [--out .cache/benchmark/gpu.json]
"""

import argparse
import asyncio
import json
import logging
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.load import closed_loop
from benchmarks.workload import preprocessed, review_texts
from benchmarks.zero_cost import jobs_of_windows

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / ".cache" / "benchmark" / "gpu.json"
CONCURRENCIES = (1, 16, 64)
WINDOWS_PER_JOB = 8
# Reduced precisions compared with float32; float16 runs only on a GPU (see precision.py).
REDUCED = ("float16", "bfloat16")
NO_GPU = "no GPU here (torch sees no CUDA device): nothing measured; run it where one is lent"


@dataclass
class PrecisionResult:
    dtype: str
    windows: int
    max_probability_diff: float | None = None
    label_agreement: float | None = None
    skipped: str = ""


@dataclass
class ThroughputResult:
    how: str
    concurrency: int | None
    windows: int
    seconds: float

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds if self.seconds else 0.0


@dataclass
class GpuReport:
    device: dict[str, Any]
    model: str
    cold_start_s: dict[str, float]
    precision: list[PrecisionResult] = field(default_factory=list)
    throughput: list[ThroughputResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["throughput"] = [
            {**asdict(t), "windows_per_s": round(t.windows_per_s, 1)} for t in self.throughput
        ]
        return data


def device_facts(device: str) -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": platform.processor() or platform.machine(),
    }
    if device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        facts |= {
            "name": properties.name,
            "memory_gb": round(properties.total_memory / 1e9, 1),
            "compute_capability": f"{properties.major}.{properties.minor}",
            "driver": nvidia_driver(),
        }
    return facts


def nvidia_driver() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 else None


def compare_precisions(
    model_dir: Path, device: str, windows: list[list[int]], batch_size: int
) -> list[PrecisionResult]:
    from inference_worker.settings import PrecisionError
    from inference_worker.torch_backend import TorchClassifier

    def rows(dtype: str) -> list[list[float]]:
        classifier = TorchClassifier(model_dir, str(model_dir), device=device, dtype=dtype)
        out: list[list[float]] = []
        for start in range(0, len(windows), batch_size):
            out += classifier.probabilities(windows[start : start + batch_size])
        return out

    reference = rows("float32")
    results = []
    for dtype in REDUCED:
        try:
            reduced = rows(dtype)
        except PrecisionError as exc:
            results.append(PrecisionResult(dtype, len(windows), skipped=str(exc)))
            continue
        pairs = list(zip(reference, reduced, strict=True))
        diff = max(abs(a - b) for r, s in pairs for a, b in zip(r, s, strict=True))
        agree = sum(_argmax(r) == _argmax(s) for r, s in pairs)
        results.append(PrecisionResult(dtype, len(windows), diff, agree / len(windows)))
    return results


def _argmax(row: list[float]) -> int:
    return max(range(len(row)), key=row.__getitem__)


def raw_forward(classifier: Any, windows: list[list[int]], batch_size: int) -> ThroughputResult:
    """The model's forward pass alone over the windows, in the worker's batch size, sorted
    by length as a batcher at its best would group them. On a thread of its own, as the
    worker's batcher runs its passes: torch's CPU threading differs on the main thread."""
    ordered = sorted(windows, key=len)

    def passes() -> float:
        started = time.perf_counter()
        for start in range(0, len(ordered), batch_size):
            classifier.probabilities(ordered[start : start + batch_size])
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=1) as forward_thread:
        forward_thread.submit(classifier.probabilities, ordered[:batch_size]).result()  # warm-up
        elapsed = forward_thread.submit(passes).result()
    return ThroughputResult("raw batched forward", None, len(ordered), elapsed)


async def worker_throughput(
    handler: Any, jobs: list[dict[str, Any]], concurrency: int, seconds: float
) -> ThroughputResult:
    async def one(index: int) -> int:
        output = await handler({"id": f"bench-{index}", "input": jobs[index % len(jobs)]})
        if "error" in output:
            raise RuntimeError(f"the inference worker failed a job: {output['error']}")
        return sum(len(item["windows"]) for item in jobs[index % len(jobs)]["items"])

    for index in range(min(concurrency, 4)):  # warm-up
        await one(index)
    loop = await closed_loop(one, concurrency, max_calls=10**9, max_seconds=seconds)
    return ThroughputResult("inference worker", concurrency, sum(loop.results), loop.seconds)


COLD_START_CHILD = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
import torch, transformers, runpod
from inference_worker.torch_backend import TorchClassifier
imported = time.perf_counter()
classifier = TorchClassifier(Path(sys.argv[1]), sys.argv[1], device=sys.argv[2])
if classifier.device.type == "cuda":
    torch.cuda.synchronize()
loaded = time.perf_counter()
classifier.probabilities([[2, 5, 6, 3]])
if classifier.device.type == "cuda":
    torch.cuda.synchronize()
first = time.perf_counter()
print(json.dumps({"imports": imported - started, "model_load_to_device": loaded - imported,
                  "first_pass": first - loaded}))
"""


def cold_start(model_dir: Path, device: str) -> dict[str, float]:
    """The worker's start, split, in a process of its own (nothing imported or cached yet)."""
    result = subprocess.run(
        [sys.executable, "-c", COLD_START_CHILD, str(model_dir), device],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start failed: {result.stderr.strip()[-300:]}")
    return {k: round(v, 3) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}


def measure(model_dir: Path, device: str, seconds: float, texts: int = 64) -> GpuReport:
    from inference_worker.handler import make_handler
    from inference_worker.settings import CPU_PADDING_SHARE, InferenceSettings
    from inference_worker.torch_backend import TorchClassifier

    logging.getLogger("worker_runtime.jobs").setLevel(logging.WARNING)
    outputs = preprocessed(review_texts(texts), model_dir)
    windows = [w.input_ids for text in outputs for w in text.windows]
    settings = InferenceSettings(model_id=str(model_dir), device=device)
    batch_size = settings.batch_size_on(device)
    report = GpuReport(device_facts(device), model_dir.name, cold_start(model_dir, device))
    report.precision = compare_precisions(model_dir, device, windows, batch_size)
    classifier = TorchClassifier(model_dir, str(model_dir), device=device)
    report.throughput.append(raw_forward(classifier, windows, batch_size))
    handler = make_handler(classifier, settings)
    jobs = jobs_of_windows(outputs, WINDOWS_PER_JOB, count=len(windows) // WINDOWS_PER_JOB)
    for concurrency in CONCURRENCIES:
        result = asyncio.run(worker_throughput(handler, jobs, concurrency, seconds))
        report.throughput.append(result)
    other_rule = CPU_PADDING_SHARE if settings.padding_share_on(device) is None else 1.0
    other = make_handler(classifier, settings.model_copy(update={"max_padding_share": other_rule}))
    result = asyncio.run(worker_throughput(other, jobs, CONCURRENCIES[-1], seconds))
    result.how = f"inference worker, MAX_PADDING_SHARE={other_rule:g}"
    report.throughput.append(result)
    return report


def describe(report: GpuReport) -> str:
    facts = report.device
    where = facts.get("name") or f"CPU ({facts['cpu']}), not a GPU"
    lines = [
        f"device: {where}; driver {facts.get('driver') or '-'}, CUDA {facts.get('cuda') or '-'}, "
        f"torch {facts['torch']}; model {report.model}",
        "cold start: "
        + ", ".join(
            f"{part.replace('_', ' ')} {s:.2f} s" for part, s in report.cold_start_s.items()
        ),
    ]
    for p in report.precision:
        if p.skipped:
            lines.append(f"{p.dtype} vs float32: skipped ({p.skipped})")
        else:
            lines.append(
                f"{p.dtype} vs float32 on {p.windows} windows: max probability difference "
                f"{p.max_probability_diff:.2e}, labels agree on {p.label_agreement:.1%}"
            )
    raw = report.throughput[0].windows_per_s
    for t in report.throughput:
        label = t.how if t.concurrency is None else f"{t.how}, {t.concurrency} jobs in flight"
        ratio = f" ({t.windows_per_s / raw:.2f}x the raw forward)" if t.concurrency else ""
        lines.append(f"{label}: {t.windows_per_s:,.0f} windows/s{ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda, if there is one")
    parser.add_argument("--model", choices=["base", "tiny"], default="base")
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput measurement")
    parser.add_argument("--texts", type=int, default=64, help="review texts to cut into windows")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    if device is None or (device == "cuda" and not torch.cuda.is_available()):
        print(NO_GPU)
        return 0
    from benchmarks.backends import MODELS
    from scripts.make_tiny_model import ensure_random_model

    model_dir = ensure_random_model(MODELS[args.model], args.model)
    report = measure(model_dir, device, args.seconds, args.texts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
    print(describe(report))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
