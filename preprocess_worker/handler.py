"""Runpod entry point of the preprocess worker: parse the job, call preprocess(), return."""

import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preprocess_worker.settings import PreprocessSettings
from preprocess_worker.stage import preprocess
from preprocess_worker.windows import WindowTokenizer
from worker_runtime.jobs import answer_job
from worker_runtime.model_files import PREPROCESS_REQUIRES, TOKENIZER_FILES, resolve_model_dir
from worker_runtime.serve import Handler, serve


def load_tokenizer(settings: PreprocessSettings) -> WindowTokenizer:
    model_dir = resolve_model_dir(
        settings.model_id, settings.model_revision, TOKENIZER_FILES, PREPROCESS_REQUIRES
    )
    return WindowTokenizer(
        model_dir, settings.window_overlap_tokens, settings.max_tokens_per_window
    )


def make_handler(tokenizer: WindowTokenizer) -> Handler:
    # Async so that one worker holds several small jobs at once (concurrency_modifier)
    # instead of paying Runpod's job fetch round trip for each. The work itself runs
    # inline: it takes milliseconds, and a thread hop measured slower.
    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        return await answer_job(
            "preprocess", job, lambda job_input: preprocess(job_input, tokenizer)
        )

    return handler


if __name__ == "__main__":
    serve(
        "preprocess worker",
        PreprocessSettings,
        lambda settings: make_handler(load_tokenizer(settings)),
    )
