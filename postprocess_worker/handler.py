"""Runpod entry point of the postprocess worker: parse the job, call postprocess(), return."""

import logging
import sys
from pathlib import Path
from typing import Any

# Runpod starts workers as `python handler.py` from the worker's folder, where the
# repository root (home of `contracts`) is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runpod

from contracts.worker_result import error_result
from postprocess_worker.formatting import postprocess


def handler(job: dict[str, Any]) -> dict[str, Any]:
    try:
        return postprocess(job.get("input")).model_dump()
    except Exception as exc:
        return error_result(exc, "postprocess")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runpod.serverless.start({"handler": handler})
