"""Lay out model files the way the Hugging Face cache holds a downloaded snapshot."""

import fnmatch
import shutil
from pathlib import Path

FAKE_COMMIT = "0" * 39 + "1"


def bake_into_hf_cache(
    model_dir: Path, hf_home: Path, repo_id: str, patterns: list[str] | None = None
) -> Path:
    """Copy `model_dir`'s files matching `patterns` (all when None) into a snapshot of
    `repo_id` at `main`, as `python -m scripts.prepare_model` leaves them in an image."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / FAKE_COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(FAKE_COMMIT)
    copied = 0
    for file in model_dir.iterdir():
        if file.is_file() and (
            patterns is None or any(fnmatch.fnmatch(file.name, p) for p in patterns)
        ):
            shutil.copy2(file, snapshot / file.name)
            copied += 1
    assert copied, f"no file of {model_dir} matches {patterns}"
    return snapshot
