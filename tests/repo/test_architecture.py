"""The boundaries: CPU stages never load torch, nothing imports what it must not."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ["preprocess_worker", "inference_worker", "postprocess_worker", "orchestrator"]
ML_LIBRARIES = {"torch", "transformers", "tokenizers"}


def loaded_modules(*imports: str) -> set[str]:
    """Top-level modules loaded by importing `imports` in a fresh interpreter."""
    code = "import importlib, json, sys\n"
    code += "".join(f"importlib.import_module({name!r})\n" for name in imports)
    code += "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "modules",
    [
        ["preprocess_worker.pipeline", "preprocess_worker.handler"],
        ["postprocess_worker.formatting", "postprocess_worker.handler"],
        # The CPU inference image's backend: the handler loads torch only for BACKEND=torch.
        ["inference_worker.onnx_model", "inference_worker.handler"],
    ],
)
def test_cpu_workers_never_import_torch_or_transformers(modules):
    loaded = loaded_modules(*modules)
    assert "torch" not in loaded and "transformers" not in loaded


def test_orchestrator_imports_no_ml_library_and_no_worker():
    loaded = loaded_modules("orchestrator.app")
    assert not loaded & ML_LIBRARIES
    assert not loaded & {"preprocess_worker", "inference_worker", "postprocess_worker", "runpod"}


def imported_packages(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("component", COMPONENTS)
def test_components_import_contracts_and_never_each_other(component):
    imported = imported_packages(REPO_ROOT / component)
    assert "contracts" in imported
    assert not imported & (set(COMPONENTS) - {component})


def test_contracts_import_nothing_of_the_project():
    assert not imported_packages(REPO_ROOT / "contracts") & {
        *COMPONENTS,
        "scripts",
        "benchmarks",
        "tests",
    }
