"""Where a stage's model files come from: a local directory, a cache, or the Hugging Face Hub.

MODEL_ID and MODEL_REVISION name the model for every stage, so the preprocess worker's
tokenizer and the inference worker's model are always the same snapshot. Lookup order:
a local directory; the default Hugging Face cache (where images bake the model); a mounted
Runpod network volume's cache; and only then a download (never when HF_HUB_OFFLINE=1).

Run as `python -m contracts.model_source --files tokenizer|all` to fill the cache at build time.
"""

import argparse
import hashlib
import os
from pathlib import Path

DEFAULT_MODEL_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
RUNPOD_VOLUME_CACHE = Path("/runpod-volume/huggingface-cache/hub")

# What the CPU preprocess stage needs: the tokenizer, and config.json for the model's
# maximum sequence length. No weights.
TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
]
# Everything the inference stage loads; other weight formats (TF, ONNX, ...) are skipped.
MODEL_FILES = [*TOKENIZER_FILES, "*.safetensors", "*.safetensors.index.json", "vocab.txt"]


class ModelUnavailableError(RuntimeError):
    """The model is in no local cache and could not be downloaded."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_model_dir(model_id: str, revision: str | None, files: list[str]) -> Path:
    """Return a local directory holding `files` of the model, downloading only as a last resort."""
    local = Path(model_id).expanduser()
    if local.is_dir():
        return local.resolve()

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    caches: list[Path | None] = [None]  # None: the default cache (HF_HOME / HF_HUB_CACHE)
    if RUNPOD_VOLUME_CACHE.is_dir():
        caches.append(RUNPOD_VOLUME_CACHE)
    for cache in caches:
        try:
            return Path(
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
    where = "the local caches"
    if _offline():
        raise ModelUnavailableError(
            f"Model {model_id!r} (revision {revision or 'main'}) is not in {where} and "
            "HF_HUB_OFFLINE=1 forbids a download. Bake it into the image or set MODEL_ID "
            "to a local directory."
        )
    try:
        return Path(snapshot_download(model_id, revision=revision, allow_patterns=files))
    except Exception as exc:  # network, auth, unknown repo: all mean "cannot have it"
        raise ModelUnavailableError(
            f"Model {model_id!r} (revision {revision or 'main'}) is not in {where} and "
            f"could not be downloaded ({type(exc).__name__}). Check MODEL_ID, MODEL_REVISION "
            "and network access, or set MODEL_ID to a local directory."
        ) from None


def tokenizer_fingerprint(model_dir: Path) -> str:
    """Identify the exact tokenizer.json, so ids made by one tokenizer never reach another model."""
    digest = hashlib.sha256((model_dir / "tokenizer.json").read_bytes()).hexdigest()
    return f"sha256:{digest[:16]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", choices=["tokenizer", "all"], required=True)
    args = parser.parse_args()
    model_id = os.environ.get("MODEL_ID") or DEFAULT_MODEL_ID
    revision = os.environ.get("MODEL_REVISION") or None
    files = TOKENIZER_FILES if args.files == "tokenizer" else MODEL_FILES
    path = resolve_model_dir(model_id, revision, files)
    print(f"{model_id} ({revision or 'main'}): {path}")


if __name__ == "__main__":
    main()
