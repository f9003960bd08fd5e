"""The inference worker with a model that costs nothing: the ceiling its per-job work allows.

A stand-in with the Classifier's surface answers constant probabilities at once, so what is
left is the worker's own work per job (validating windows, batching, building the answer)
and, through Runpod's local API server, what the SDK and HTTP add. Jobs hold 64 windows of
the workload's real token ids, as the pipeline sends them; `settings.max_concurrency` jobs
run side by side, as one worker would hold them.

    python -m benchmarks.zero_cost [--model DIR] [--profile]

`--profile` runs the in-process measurement under cProfile and prints where its time goes.
"""

import argparse
import asyncio
import cProfile
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import closed_loop
from contracts import ModelInfo, PreprocessOutput, TokenWindow
from inference_worker.settings import InferenceSettings
from scripts.local_stack import REPO_ROOT, free_port, stop_processes, wait_until_answers
from worker_runtime.model_files import max_sequence_length
from worker_runtime.windows import TextWindower

WINDOWS_PER_JOB = 64
RUNNER = Path(__file__).resolve().parent / "zero_cost_worker.py"


class ZeroCostClassifier:
    """The Classifier's surface; its forward pass returns constant probabilities at once."""

    def __init__(self, model_dir: Path):
        config = json.loads((model_dir / "config.json").read_text())
        id2label = config.get("id2label") or {"0": "LABEL_0", "1": "LABEL_1"}
        self.labels = [id2label[str(i)] for i in range(len(id2label))]
        self.vocab_size: int = config["vocab_size"]
        self.max_length = max_sequence_length(model_dir)
        self._windower = TextWindower.from_model_dir(model_dir, self.max_length)
        self.fingerprint = self._windower.fingerprint
        self.info = ModelInfo(
            model_id=f"zero-cost stand-in ({model_dir.name})",
            labels=self.labels,
            max_length=self.max_length,
            tokenizer_fingerprint=self.fingerprint,
            device="none",
            dtype="none",
        )
        self._row = [1 / len(self.labels)] * len(self.labels)

    def probabilities(self, sequences: list[list[int]]) -> list[list[float]]:
        return [list(self._row) for _ in sequences]

    def split_text(self, text: str, overlap_tokens: int) -> list[TokenWindow]:
        return self._windower.split_with_overlap(text, overlap_tokens)


def zero_cost_handler(model_dir: Path, settings: InferenceSettings):
    # Imported here: the handler module imports the Runpod SDK and the real model code.
    from inference_worker.handler import make_handler

    return make_handler(ZeroCostClassifier(model_dir), settings)


def jobs_of_windows(
    texts: list[PreprocessOutput], windows_per_job: int = WINDOWS_PER_JOB, count: int = 16
) -> list[dict[str, Any]]:
    """`count` job inputs of exactly `windows_per_job` windows each, item by item through the
    texts (round and round), as the orchestrator would send them."""
    items = (
        {
            "windows": [w.model_dump(mode="json") for w in text.windows],
            "tokenizer_fingerprint": text.tokenizer.fingerprint,
        }
        for text in _forever(texts)
    )
    jobs = []
    for _ in range(count):
        job_items, room = [], windows_per_job
        while room:
            item = next(items)
            item = {**item, "windows": item["windows"][:room]}
            room -= len(item["windows"])
            job_items.append(item)
        jobs.append({"items": job_items})
    return jobs


def _forever(texts: list[PreprocessOutput]) -> Iterator[PreprocessOutput]:
    while True:
        yield from texts


@dataclass
class ZeroCostRun:
    how: str
    concurrency: int
    jobs: int
    seconds: float
    bounded_by: str
    windows_per_job: int

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds

    @property
    def windows_per_s(self) -> float:
        return self.jobs_per_s * self.windows_per_job


async def _measure(
    how: str,
    run_job: Callable[[int], Awaitable[None]],
    concurrency: int,
    max_jobs: int,
    max_seconds: float,
) -> ZeroCostRun:
    for index in range(concurrency):  # warm-up
        await run_job(index)
    loop = await closed_loop(run_job, concurrency, max_jobs, max_seconds)
    return ZeroCostRun(
        how, concurrency, len(loop.results), loop.seconds, loop.bounded_by, WINDOWS_PER_JOB
    )


def _check(output: dict[str, Any]) -> None:
    if "error" in output:
        raise RuntimeError(f"the zero-cost worker failed a job: {output['error']}")


async def in_process(
    model_dir: Path, jobs: list[dict[str, Any]], max_jobs: int, max_seconds: float
) -> ZeroCostRun:
    """The handler called directly by concurrent jobs: the project's own per-job cost."""
    settings = InferenceSettings(model_id=str(model_dir))
    handler = zero_cost_handler(model_dir, settings)
    # One log line per job is the worker's own business; thousands of them here are noise.
    logging.getLogger("worker_runtime.jobs").setLevel(logging.WARNING)

    async def run_job(index: int) -> None:
        _check(await handler({"id": f"bench-{index}", "input": jobs[index % len(jobs)]}))

    return await _measure(
        "handler called in process", run_job, settings.max_concurrency, max_jobs, max_seconds
    )


async def through_local_api(
    url: str, jobs: list[dict[str, Any]], concurrency: int, max_jobs: int, max_seconds: float
) -> ZeroCostRun:
    """The same handler behind Runpod's local API server: what the SDK and HTTP add."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def run_job(index: int) -> None:
            response = await client.post("/runsync", json={"input": jobs[index % len(jobs)]})
            response.raise_for_status()
            _check(response.json())

        return await _measure(
            "through Runpod's local API server", run_job, concurrency, max_jobs, max_seconds
        )


@contextmanager
def local_api_server(model_dir: Path) -> Iterator[str]:
    """The zero-cost worker served by Runpod's local API server (`--rp_serve_api`); its URL."""
    port = free_port()
    command = [sys.executable, str(RUNNER), "--rp_serve_api"]
    command += ["--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
    env = {**os.environ, "MODEL_ID": str(model_dir), "PYTHONUNBUFFERED": "1"}
    env.setdefault("RUNPOD_LOG_LEVEL", "INFO")  # as the images run it
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )

        def tail() -> str:
            log.seek(0)
            return "".join(log.readlines()[-30:])

        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_answers(process, url + "/openapi.json", 120, "zero-cost worker", tail)
            yield url
        finally:
            stop_processes([process], 10)


def run_both(
    model_dir: Path, texts: list[PreprocessOutput], max_jobs: int, max_seconds: float
) -> tuple[ZeroCostRun, ZeroCostRun]:
    jobs = jobs_of_windows(texts)
    direct = asyncio.run(in_process(model_dir, jobs, max_jobs, max_seconds))
    with local_api_server(model_dir) as url:
        served = asyncio.run(
            through_local_api(url, jobs, direct.concurrency, max_jobs, max_seconds)
        )
    return direct, served


def main() -> None:
    from benchmarks.model_choice import choose_model
    from benchmarks.workload import preprocessed, review_texts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a directory or Hugging Face id (default: MODEL_ID)")
    parser.add_argument("--jobs", type=int, default=4000, help="at most this many jobs")
    parser.add_argument("--seconds", type=float, default=10.0, help="at most this long")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    args = parser.parse_args()
    model = choose_model(args.model)
    jobs = jobs_of_windows(preprocessed(review_texts(), model.path))
    if args.profile:
        import inference_worker.handler  # noqa: F401  (its imports stay out of the profile)

        profile = cProfile.Profile()
        run = profile.runcall(asyncio.run, in_process(model.path, jobs, args.jobs, args.seconds))
        print(_describe(run))
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    for run in run_both(
        model.path, preprocessed(review_texts(), model.path), args.jobs, args.seconds
    ):
        print(_describe(run))


def _describe(run: ZeroCostRun) -> str:
    return (
        f"{run.how}: {run.jobs} jobs of {run.windows_per_job} windows, {run.concurrency} at a "
        f"time, in {run.seconds:.1f} s: {run.jobs_per_s:,.0f} jobs/s, "
        f"{run.windows_per_s:,.0f} windows/s"
    )


if __name__ == "__main__":
    main()
