"""Where a worker's model files come from: a local directory, a cache, or the Hugging Face Hub.

MODEL_ID and MODEL_REVISION name the model for every stage, so the preprocess worker's
tokenizer and the inference worker's model are always the same snapshot. Lookup order:
a local directory; the default Hugging Face cache (where images bake the model); a mounted
Runpod network volume's cache; and only then a download (never when HF_HUB_OFFLINE=1).
A candidate that lacks a file the worker needs is skipped, not half-used.
"""

import hashlib
import json
import os
from pathlib import Path

from contracts.limits import Limits

DEFAULT_MODEL_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
RUNPOD_VOLUME_CACHE = Path("/runpod-volume/huggingface-cache/hub")
# Tokenizers that declare no real limit store a huge sentinel as model_max_length.
_NO_LIMIT = 1_000_000

# Every file a tokenizer may be described by: tokenizer.json, or the "slow" files a
# tokenizer.json is converted from (see scripts/prepare_model.py); config.json holds the
# model's maximum sequence length. No weights.
TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",
]
# Everything the inference stage loads; other weight formats (TF, ONNX, ...) are skipped.
MODEL_FILES = [*TOKENIZER_FILES, "*.safetensors", "*.safetensors.index.json"]

# What each stage cannot start without: at least one file matching each pattern.
PREPROCESS_REQUIRES = ["tokenizer.json"]
INFERENCE_REQUIRES = ["config.json", "*.safetensors"]
# The CPU image's ONNX backend: the model exported once to model.onnx (scripts/export_onnx.py),
# read with the tokenizers library alone, so no weights in another format and no slow files.
ONNX_MODEL_FILE = "model.onnx"
ONNX_FILES = ["tokenizer.json", "tokenizer_config.json", "config.json", ONNX_MODEL_FILE]
ONNX_REQUIRES = ["tokenizer.json", "config.json", ONNX_MODEL_FILE]


# What makes a file a model repository may lack (image builds run both).
_HOW_TO_MAKE = {
    "tokenizer.json": "For a tokenizer.json, run `python -m scripts.prepare_model` once.",
    "model.onnx": "For a model.onnx, run `python -m scripts.export_onnx --prepared` once.",
}


class ModelUnavailableError(RuntimeError):
    """The model's files are in no local cache and could not be downloaded."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def missing_files(model_dir: Path, required: list[str]) -> list[str]:
    return [pattern for pattern in required if not any(model_dir.glob(pattern))]


def resolve_model_dir(
    model_id: str, revision: str | None, files: list[str], required: list[str]
) -> Path:
    """Return a local directory holding the model's `files`, downloading only as a last resort.

    Raises ModelUnavailableError, naming what is missing, when no candidate has `required`.
    """
    name = f"{model_id!r} (revision {revision or 'main'})"
    local = Path(model_id).expanduser()
    if local.is_dir():
        if missing := missing_files(local, required):
            raise ModelUnavailableError(f"Directory {local} lacks {', '.join(missing)}")
        return local.resolve()

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except HFValidationError:
        raise ModelUnavailableError(
            f"MODEL_ID {model_id!r} is neither a directory nor a Hugging Face model id"
        ) from None

    caches: list[Path | None] = [None]  # None: the default cache (HF_HOME / HF_HUB_CACHE)
    if RUNPOD_VOLUME_CACHE.is_dir():
        caches.append(RUNPOD_VOLUME_CACHE)
    for cache in caches:
        try:
            path = Path(
                snapshot_download(
                    model_id,
                    revision=revision,
                    cache_dir=cache,
                    allow_patterns=files,
                    local_files_only=True,
                )
            )
        except (LocalEntryNotFoundError, FileNotFoundError):
            continue
        if not missing_files(path, required):
            return path
    if _offline():
        raise ModelUnavailableError(
            f"Model {name} is not in the local caches and HF_HUB_OFFLINE=1 forbids a "
            "download. Bake it into the image or set MODEL_ID to a local directory."
        )
    try:
        path = Path(snapshot_download(model_id, revision=revision, allow_patterns=files))
    except Exception as exc:  # network, auth, unknown repo: all mean "cannot have it"
        raise ModelUnavailableError(
            f"Model {name} is not in the local caches and could not be downloaded "
            f"({type(exc).__name__}). Check MODEL_ID, MODEL_REVISION and network access, "
            "or set MODEL_ID to a local directory."
        ) from None
    if missing := missing_files(path, required):
        raise ModelUnavailableError(
            f"Model {name} has no {', '.join(missing)}. " + _HOW_TO_MAKE.get(missing[0], "")
        )
    return path


def max_sequence_length(model_dir: Path) -> int:
    """The longest sequence the model accepts, from its tokenizer config and model config.

    One function for both stages, so preprocess never makes a window inference refuses.
    """
    candidates: list[int] = []
    tokenizer_config = model_dir / "tokenizer_config.json"
    if tokenizer_config.is_file():
        value = json.loads(tokenizer_config.read_text()).get("model_max_length")
        if isinstance(value, int | float) and value < _NO_LIMIT:
            candidates.append(int(value))
    model_config = model_dir / "config.json"
    if model_config.is_file():
        value = json.loads(model_config.read_text()).get("max_position_embeddings")
        if isinstance(value, int):
            candidates.append(value)
    if not candidates:
        raise ValueError(f"cannot tell the model's maximum length from {model_dir}")
    return min(*candidates, Limits.MAX_TOKENS_PER_WINDOW)


def tokenizer_fingerprint(tokenizer_json: str) -> str:
    """Identify a tokenizer by what it does, so ids made by one never reach another model.

    `tokenizer_json` is a tokenizers-library serialization (tokenizer.json, or
    `Tokenizer.to_str()`). Truncation and padding settings are run-time choices, not the
    tokenizer, so they are left out; keys are sorted so formatting does not matter.
    """
    spec = json.loads(tokenizer_json)
    spec.pop("truncation", None)
    spec.pop("padding", None)
    canonical = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"
