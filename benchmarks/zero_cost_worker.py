"""The inference worker's handler around the zero-cost stand-in, started as Runpod starts a
worker: `python benchmarks/zero_cost_worker.py --rp_serve_api --rp_api_port N`, with
MODEL_ID naming the model directory whose tokenizer and labels the stand-in takes."""

import sys
from pathlib import Path

# Started as a script: the repository root is not on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runpod

from benchmarks.zero_cost import zero_cost_handler
from inference_worker.settings import InferenceSettings
from worker_runtime.startup import load_settings

if __name__ == "__main__":
    settings = load_settings(InferenceSettings, "zero-cost inference worker")
    runpod.serverless.start(
        {
            "handler": zero_cost_handler(Path(settings.model_id), settings),
            "concurrency_modifier": lambda current: settings.max_concurrency,
        }
    )
