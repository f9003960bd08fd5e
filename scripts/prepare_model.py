"""Fetch a model's files into the Hugging Face cache and make sure it has a tokenizer.json.

The preprocess worker tokenizes with the `tokenizers` library alone (no transformers in a
CPU image), which reads tokenizer.json. Some models, the default among them, ship only the
"slow" files (vocab.txt, ...): this converts them once with transformers, exactly as the
inference worker's transformers does at load time, and writes tokenizer.json beside them.
Image builds run it in a build stage; `make run` runs it before starting the workers.

    MODEL_ID=... MODEL_REVISION=... python -m scripts.prepare_model --files tokenizer|all
"""

import argparse
import os
import sys
from pathlib import Path

from worker_runtime.model_files import (
    DEFAULT_MODEL_ID,
    INFERENCE_REQUIRES,
    MODEL_FILES,
    PREPROCESS_REQUIRES,
    TOKENIZER_FILES,
    ModelUnavailableError,
    missing_files,
    resolve_model_dir,
)


def ensure_tokenizer_json(model_dir: Path) -> None:
    if (model_dir / "tokenizer.json").exists():
        return
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailableError(f"{model_dir} has no tokenizer that converts to tokenizer.json")
    tokenizer.backend_tokenizer.save(str(model_dir / "tokenizer.json"))


def prepare(model_id: str, revision: str | None, everything: bool) -> Path:
    """The model's directory, with tokenizer.json, and its weights when `everything`."""
    files = MODEL_FILES if everything else TOKENIZER_FILES
    required = INFERENCE_REQUIRES if everything else ["config.json"]
    model_dir = resolve_model_dir(model_id, revision, files, required)
    ensure_tokenizer_json(model_dir)
    if missing := missing_files(model_dir, PREPROCESS_REQUIRES):
        raise ModelUnavailableError(f"{model_dir} still lacks {', '.join(missing)}")
    return model_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", choices=["tokenizer", "all"], required=True)
    args = parser.parse_args()
    model_id = os.environ.get("MODEL_ID") or DEFAULT_MODEL_ID
    revision = os.environ.get("MODEL_REVISION") or None
    try:
        path = prepare(model_id, revision, everything=args.files == "all")
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{model_id} ({revision or 'main'}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
