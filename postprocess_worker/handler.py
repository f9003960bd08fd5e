"""Runpod entry point of the postprocess worker: parse the job, call postprocess(), return."""

import logging
import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runpod

from contracts.startup import load_settings
from contracts.worker_result import answer_job
from postprocess_worker.formatting import postprocess
from postprocess_worker.settings import PostprocessSettings


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    # Async so that one worker holds several small jobs at once (concurrency_modifier)
    # instead of paying Runpod's job fetch round trip for each. The work itself runs
    # inline: it takes milliseconds, and a thread hop measured slower (README, "Measured").
    return await answer_job("postprocess", job, postprocess)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(PostprocessSettings, "postprocess worker")
    runpod.serverless.start(
        {"handler": handler, "concurrency_modifier": lambda current: settings.max_concurrency}
    )
