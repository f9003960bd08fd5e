"""Write the inference worker's test_input.json: the job the orchestrator sends it for a sample.

Runpod's local test mode (`python handler.py`) runs ./test_input.json. The inference
worker's real input is token windows with the tokenizer's fingerprint, and both depend on
the model, so this file is made, not written by hand: the real preprocess code (cleaning,
the model's own tokenizer.json, the windowing, with the preprocess worker's settings from
the environment) runs on a sample text, and its windows are laid out as the orchestrator
lays out an inference job. `make run` writes it for MODEL_ID, the inference image's build
for the baked model; it is not checked in.

    MODEL_ID=... MODEL_REVISION=... python -m scripts.write_test_input [OUT]
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from preprocess_worker.settings import PreprocessSettings
from preprocess_worker.stage import preprocess
from preprocess_worker.windows import WindowTokenizer
from scripts.prepare_model import prepare
from worker_runtime.model_files import ModelUnavailableError
from worker_runtime.startup import load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "inference_worker" / "test_input.json"
# The text behind postprocess_worker/test_input.json's stats.
SAMPLE_TEXT = "The battery life is fantastic and the screen is bright. I'd buy it again!"


def inference_job(
    model_dir: Path, settings: PreprocessSettings, text: str = SAMPLE_TEXT
) -> dict[str, Any]:
    tokenizer = WindowTokenizer(
        model_dir, settings.window_overlap_tokens, settings.max_tokens_per_window
    )
    preprocessed = preprocess({"text": text}, tokenizer)
    item = {
        "windows": [window.model_dump() for window in preprocessed.windows],
        "tokenizer_fingerprint": preprocessed.tokenizer.fingerprint,
    }
    return {
        # Runpod's local test mode passes the job to the handler, which reads only "input".
        "_comment": (
            f"Made by `python -m scripts.write_test_input` for MODEL_ID={settings.model_id} "
            f"(revision {settings.model_revision or 'main'}): what the orchestrator sends the "
            f"inference worker for the text {text!r}. Another model needs its own."
        ),
        "input": {"items": [item]},
    }


def write_test_input(
    model_dir: Path, settings: PreprocessSettings, out: Path = DEFAULT_OUT
) -> Path:
    text = json.dumps(inference_job(model_dir, settings), indent=2, ensure_ascii=False)
    # A window's token ids on one line, not one line per id.
    text = re.sub(r"\[[\d,\s]+\]", lambda ids: json.dumps(json.loads(ids.group())), text)
    out.write_text(text + "\n", encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    settings = load_settings(PreprocessSettings, "write_test_input")
    try:
        model_dir = prepare(settings.model_id, settings.model_revision, everything=False)
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = write_test_input(model_dir, settings, args.out)
    print(f"{out}: the inference job for {settings.model_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
