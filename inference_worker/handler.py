"""Runpod entry point of the inference worker: parse the job, call infer(), return.

The handler is async and Runpod's concurrency_modifier lets one worker hold several jobs,
so their windows meet in the batcher and share forward passes. A job's checks and output run
on a small thread pool, its windows on the batcher's forward thread: the event loop only
hands work around.

When the GPU fails in a way no later pass survives (a sticky CUDA error), the failing jobs
answer a model error and every result from then on carries `refresh_worker`: the Runpod SDK
turns it into `stopPod` in the job's result, and Runpod replaces the worker.
"""

import gc
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference_worker.batcher import WindowBatcher
from inference_worker.device_faults import DeviceGuard
from inference_worker.settings import InferenceSettings
from inference_worker.stage import Classifier, infer
from worker_runtime.jobs import answer_job
from worker_runtime.model_files import (
    INFERENCE_REQUIRES,
    MODEL_FILES,
    ONNX_FILES,
    ONNX_REQUIRES,
    resolve_model_dir,
)
from worker_runtime.serve import Handler, serve

# Threads that check jobs and build their outputs. Python holds one lock for such work, so
# more threads than this add switching, not speed.
CPU_THREADS = 2

log = logging.getLogger(__name__)


def load_classifier(settings: InferenceSettings) -> Classifier:
    """The model of BACKEND. Each backend's module is imported only when chosen: the ONNX
    backend's image holds no torch, which torch_backend.py imports."""
    if settings.backend == "onnx":
        from inference_worker.onnx_backend import OnnxClassifier

        model_dir = resolve_model_dir(
            settings.model_id, settings.model_revision, ONNX_FILES, ONNX_REQUIRES
        )
        return OnnxClassifier(model_dir, settings.model_id, settings.model_revision)

    from inference_worker.precision import resolve_device, resolve_dtype
    from inference_worker.torch_backend import TorchClassifier

    # Before the model is looked up (maybe downloaded): a bad DTYPE stops the worker at once.
    resolve_dtype(settings.dtype, resolve_device(settings.device))
    model_dir = resolve_model_dir(
        settings.model_id, settings.model_revision, MODEL_FILES, INFERENCE_REQUIRES
    )
    return TorchClassifier(
        model_dir, settings.model_id, settings.model_revision, settings.device, settings.dtype
    )


def make_handler(classifier: Classifier, settings: InferenceSettings) -> Handler:
    """The async Runpod handler around `classifier`: anything with `probabilities(sequences)
    -> rows`, `labels`, `vocab_size`, `max_length`, `fingerprint`, `info` and `split_text`.
    A classifier that also has `prepare(sequences)` and `run_prepared(prepared)` gets its
    next pass padded while the current one runs."""
    guard = DeviceGuard()
    prepare = getattr(classifier, "prepare", None)
    run_prepared = getattr(classifier, "run_prepared", None)
    two_steps = prepare is not None and run_prepared is not None
    device_type = classifier.info.device.split(":")[0]
    batcher = WindowBatcher(
        guard.guard(run_prepared if two_steps else classifier.probabilities),
        settings.batch_size_on(device_type),
        settings.max_batch_wait_ms,
        max_batch_tokens=settings.max_batch_tokens,
        prepare=guard.guard(prepare) if two_steps else None,
        max_padding_share=settings.padding_share_on(device_type),
    )
    offload = ThreadPoolExecutor(max_workers=CPU_THREADS, thread_name_prefix="inference-cpu")
    # What is alive now (torch, transformers, the model) lives as long as the worker. Frozen,
    # the garbage collector stops walking it on every full collection, which measured a large
    # share of a big job's CPU time under concurrent load.
    gc.freeze()

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        result = await answer_job(
            "inference",
            job,
            lambda job_input: infer(
                job_input, classifier, batcher, settings.window_overlap_tokens, offload
            ),
        )
        if guard.poisoned:
            # Runpod's SDK pops this key and marks the result stopPod: the worker is replaced.
            result["refresh_worker"] = True
        return result

    return handler


def start(settings: InferenceSettings) -> Handler:
    classifier = load_classifier(settings)
    log.info(
        "model %s on %s (%s), max length %d",
        settings.model_id,
        classifier.info.device,
        classifier.info.dtype,
        classifier.max_length,
    )
    return make_handler(classifier, settings)


if __name__ == "__main__":
    serve("inference worker", InferenceSettings, start)
