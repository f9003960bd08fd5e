"""Which model a benchmark run measures.

--model or MODEL_ID when given (a directory or a Hugging Face id, fetched like `make run`
does); else the default model if it is already in the local Hugging Face cache (never a
download: a benchmark must not hang on the network); else a random model of the default
model's size, made once by scripts/make_tiny_model.py and kept under .cache/.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.local_stack import REPO_ROOT
from scripts.make_tiny_model import ensure_random_model
from scripts.prepare_model import prepare
from worker_runtime.model_files import DEFAULT_MODEL_ID, ModelUnavailableError

RANDOM_BASE_MODEL = REPO_ROOT / ".cache" / "base-model"


@dataclass
class ModelChoice:
    path: Path
    name: str
    why: str


def choose_model(requested: str | None) -> ModelChoice:
    requested = requested or os.environ.get("MODEL_ID")
    if requested:
        revision = os.environ.get("MODEL_REVISION") or None
        return ModelChoice(prepare(requested, revision, everything=True), requested, "as asked")
    try:
        with _offline():
            path = prepare(DEFAULT_MODEL_ID, None, everything=True)
        return ModelChoice(path, DEFAULT_MODEL_ID, "the default model, from the local cache")
    except ModelUnavailableError:
        path = ensure_random_model(RANDOM_BASE_MODEL, size="base")
        return ModelChoice(
            path,
            "random DistilBERT-base-sized model",
            "the default model is not in the local cache; same shape, random weights",
        )


@contextmanager
def _offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for the duration: look in the caches, never download."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before
