"""Shared fixtures for tests/unit, tests/stack and tests/repo: a tiny random model made offline,
and the real local pipeline."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.local_stack import WORKERS, LocalStack, free_port  # noqa: E402


def run_script(module: str, *args: Path | str) -> None:
    """`python -m module args` of the project's scripts, in a separate process, so torch
    never loads into tests that check it stays out."""
    subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random DistilBERT classifier, written by the project's own script (no download)."""
    out = tmp_path_factory.mktemp("tiny-model")
    run_script("scripts.make_tiny_model", out)
    return out


@pytest.fixture(scope="session")
def tiny_onnx_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny model exported to model.onnx by scripts/export_onnx.py, as the CPU image's
    build stage exports the real one (tiny_model_dir itself stays without model.onnx)."""
    out = tmp_path_factory.mktemp("tiny-onnx-model")
    for file in tiny_model_dir.iterdir():
        shutil.copy2(file, out / file.name)
    run_script("scripts.export_onnx", out)
    return out


@pytest.fixture(scope="session")
def local_stack(tiny_onnx_model_dir: Path) -> Iterator[LocalStack]:
    """The four workers in Runpod's local API mode (the fourth: inference on ONNX Runtime)
    plus the orchestrator, on free ports, all on the tiny model (with its model.onnx)."""
    ports = {name: free_port() for name in (*(name for name, _, _ in WORKERS), "orchestrator")}
    # Every request the tests send at once is served: admission by latency, which refuses
    # all but one until it has measured the unloaded round trip, has tests of its own.
    env = {"MODEL_ID": str(tiny_onnx_model_dir), "ADMISSION": "fixed"}
    stack = LocalStack(env=env, ports=ports)
    with stack:
        yield stack
