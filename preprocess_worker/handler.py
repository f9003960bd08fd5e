"""Runpod entry point of the preprocess worker: parse the job, call preprocess(), return."""

import logging
import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runpod

from contracts.model_source import (
    PREPROCESS_REQUIRES,
    TOKENIZER_FILES,
    ModelUnavailableError,
    resolve_model_dir,
)
from contracts.startup import load_settings
from contracts.worker_result import answer_job
from preprocess_worker.pipeline import preprocess
from preprocess_worker.settings import PreprocessSettings
from preprocess_worker.windows import WindowTokenizer


def load_tokenizer(settings: PreprocessSettings) -> WindowTokenizer:
    model_dir = resolve_model_dir(
        settings.model_id, settings.model_revision, TOKENIZER_FILES, PREPROCESS_REQUIRES
    )
    return WindowTokenizer(
        model_dir, settings.window_overlap_tokens, settings.max_tokens_per_window
    )


def make_handler(tokenizer: WindowTokenizer):
    # Async so that one worker holds several small jobs at once (concurrency_modifier)
    # instead of paying Runpod's job fetch round trip for each. The work itself runs
    # inline: it takes milliseconds, and a thread hop measured slower (README, "Measured").
    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        return await answer_job(
            "preprocess", job, lambda job_input: preprocess(job_input, tokenizer)
        )

    return handler


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(PreprocessSettings, "preprocess worker")
    try:
        tokenizer = load_tokenizer(settings)
    except ModelUnavailableError as exc:
        sys.exit(f"preprocess worker cannot start: {exc}")
    runpod.serverless.start(
        {
            "handler": make_handler(tokenizer),
            "concurrency_modifier": lambda current: settings.max_concurrency,
        }
    )
