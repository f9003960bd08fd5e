"""Runpod entry point of the inference worker: parse the job, call infer(), return.

The handler is async and Runpod's concurrency_modifier lets one worker hold several jobs,
so their windows meet in the batcher and share forward passes.
"""

import logging
import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runpod

from contracts.model_source import (
    INFERENCE_REQUIRES,
    MODEL_FILES,
    ModelUnavailableError,
    resolve_model_dir,
)
from contracts.startup import load_settings
from contracts.worker_result import error_result
from inference_worker.batcher import WindowBatcher
from inference_worker.engine import infer
from inference_worker.model import Classifier
from inference_worker.settings import InferenceSettings


def load_classifier(settings: InferenceSettings) -> Classifier:
    model_dir = resolve_model_dir(
        settings.model_id, settings.model_revision, MODEL_FILES, INFERENCE_REQUIRES
    )
    return Classifier(model_dir, settings.model_id, settings.model_revision, settings.device)


def make_handler(classifier: Classifier, settings: InferenceSettings):
    batcher = WindowBatcher(
        classifier.probabilities, settings.max_batch_size, settings.max_batch_wait_ms
    )

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        try:
            output = await infer(
                job.get("input"), classifier, batcher, settings.window_overlap_tokens
            )
            return output.model_dump()
        except Exception as exc:
            return error_result(exc, "inference")

    return handler


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(InferenceSettings, "inference worker")
    try:
        classifier = load_classifier(settings)
    except ModelUnavailableError as exc:
        sys.exit(f"inference worker cannot start: {exc}")
    logging.getLogger(__name__).info(
        "model %s on %s (%s), max length %d",
        settings.model_id,
        classifier.device,
        classifier.info.dtype,
        classifier.max_length,
    )
    runpod.serverless.start(
        {
            "handler": make_handler(classifier, settings),
            "concurrency_modifier": lambda current: settings.max_concurrency,
        }
    )
