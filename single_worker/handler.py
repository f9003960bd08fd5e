"""Runpod entry point of the all-stage worker (LAYOUT=single): the three stages in one job.

Preprocess and postprocess are the workers' stage functions on a small thread pool, the
inference is the inference worker's own handler (its batcher, BACKEND torch or onnx), all
run by the orchestrator's pipeline in this process (single_worker/job.py). Callable from
Runpod's console or /runsync with no orchestrator: `{"input": {"text": "..."}}`.
"""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import InferenceTarget, Stage
from orchestrator.inline_layout import cpu_stages, inference_stage
from orchestrator.pipeline import Pipeline
from single_worker.job import classify_job
from single_worker.settings import SingleSettings
from worker_runtime.jobs import answer_job
from worker_runtime.serve import Handler, serve


def make_handler(settings: SingleSettings) -> Handler:
    pool = ThreadPoolExecutor(settings.stage_threads, thread_name_prefix="single-stage")
    stages = {
        **cpu_stages(settings, pool),
        Stage.INFERENCE: inference_stage(settings, Stage.INFERENCE.value),
    }
    pipeline = Pipeline(stages)
    # The CPU twin of the single layout's smart variant (deploy's single_cpu).
    endpoint = InferenceTarget.CPU if settings.backend == "onnx" else InferenceTarget.GPU

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        return await answer_job(
            "single", job, lambda job_input: classify_job(pipeline, job_input, endpoint)
        )

    return handler


if __name__ == "__main__":
    serve("single worker", SingleSettings, make_handler)
