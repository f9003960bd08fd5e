"""Model files: lookup order, incomplete caches, and tokenizer.json for models without one."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference_worker.torch_backend import TorchClassifier
from preprocess_worker.windows import WindowTokenizer
from scripts.prepare_model import prepare
from tests.hf_cache import bake_into_hf_cache
from worker_runtime.model_files import PREPROCESS_REQUIRES, TOKENIZER_FILES, tokenizer_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slow_only_model(tmp_path_factory) -> Path:
    """The tiny model shipped like the default one: vocab.txt, no tokenizer.json."""
    out = tmp_path_factory.mktemp("slow-only")
    subprocess.run(
        [sys.executable, "-m", "scripts.make_tiny_model", str(out), "--slow-only"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    assert not (out / "tokenizer.json").exists() and (out / "vocab.txt").exists()
    return out


def test_a_model_without_tokenizer_json_gets_one_that_matches_the_inference_worker(
    slow_only_model, tmp_path
):
    # What a network volume's cache holds: the model as published, no tokenizer.json.
    as_published = tmp_path / "as-published"
    shutil.copytree(slow_only_model, as_published)

    prepared = prepare(str(slow_only_model), None, everything=True)
    assert (prepared / "tokenizer.json").exists()

    preprocess = WindowTokenizer(prepared, overlap_tokens=8)
    for model_dir in (prepared, as_published):
        classifier = TorchClassifier(model_dir, model_id="tiny", device="cpu")
        assert classifier.fingerprint == preprocess.fingerprint
        text = "The service was great, the food was not."
        ids = classifier.tokenizer(text)["input_ids"]
        assert preprocess.split(text)[0].input_ids == ids


def test_the_fingerprint_ignores_formatting_and_runtime_settings(tiny_model_dir):
    text = (tiny_model_dir / "tokenizer.json").read_text()
    reformatted = text.replace('"truncation": null', '"truncation": {"max_length": 8}')
    assert tokenizer_fingerprint(reformatted) == tokenizer_fingerprint(text)
    assert tokenizer_fingerprint(text.replace("[UNK]", "[UNKNOWN]")) != tokenizer_fingerprint(text)


def resolve_in_subprocess(model_id: str, hf_home: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        "from worker_runtime.model_files import ModelUnavailableError, resolve_model_dir\n"
        f"try: print(resolve_model_dir({model_id!r}, None, {TOKENIZER_FILES!r}, "
        f"{PREPROCESS_REQUIRES!r}))\n"
        "except ModelUnavailableError as e: sys.exit(str(e))\n"
    )
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


def test_a_cached_snapshot_without_the_needed_files_is_not_used(slow_only_model, tmp_path):
    as_published = tmp_path / "model"
    shutil.copytree(slow_only_model, as_published)
    (as_published / "tokenizer.json").unlink(missing_ok=True)
    bake_into_hf_cache(as_published, tmp_path / "hf", "org/tiny")
    result = resolve_in_subprocess("org/tiny", tmp_path / "hf")
    assert result.returncode == 1
    assert "is not in the local caches and HF_HUB_OFFLINE=1 forbids a download" in result.stderr


def test_a_complete_cached_snapshot_is_used_offline(tiny_model_dir, tmp_path):
    bake_into_hf_cache(tiny_model_dir, tmp_path / "hf", "org/tiny")
    result = resolve_in_subprocess("org/tiny", tmp_path / "hf")
    assert result.returncode == 0, result.stderr
    assert "models--org--tiny/snapshots/" in result.stdout


def test_a_local_directory_missing_files_is_named():
    result = resolve_in_subprocess(str(REPO_ROOT / "contracts"), REPO_ROOT / ".cache" / "none")
    assert result.returncode == 1
    assert "lacks tokenizer.json" in result.stderr


def test_the_build_stage_pins_match_the_inference_workers():
    def pins(path: Path) -> dict[str, str]:
        lines = path.read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    build = pins(REPO_ROOT / "scripts" / "prepare_model_requirements.txt")
    inference = pins(REPO_ROOT / "inference_worker" / "requirements.txt")
    assert build == {name: inference[name] for name in build}
