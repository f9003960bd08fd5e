"""Runpod entry point of the postprocess worker: parse the job, call postprocess(), return."""

import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from postprocess_worker.settings import PostprocessSettings
from postprocess_worker.stage import postprocess
from worker_runtime.jobs import answer_job
from worker_runtime.serve import serve


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    # Async so that one worker holds several small jobs at once (concurrency_modifier)
    # instead of paying Runpod's job fetch round trip for each. The work itself runs
    # inline: it takes milliseconds, and a thread hop measured slower.
    return await answer_job("postprocess", job, postprocess)


if __name__ == "__main__":
    serve("postprocess worker", PostprocessSettings, lambda settings: handler)
