"""The boundaries: CPU stages never load torch, nothing imports what it must not."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = ["preprocess_worker", "inference_worker", "postprocess_worker"]
COMPONENTS = [*WORKERS, "orchestrator"]
# What the workers run their stages in: model files, start-up, the job wrapper, serve().
WORKER_RUNTIME = "worker_runtime"
# The one library contracts may import: pydantic, with its compiled core.
CONTRACTS_LIBRARIES = {"pydantic", "pydantic_core"}
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
        ["preprocess_worker.stage", "preprocess_worker.handler"],
        ["postprocess_worker.stage", "postprocess_worker.handler"],
        # The CPU inference image's backend: the handler loads torch only for BACKEND=torch.
        ["inference_worker.onnx_backend", "inference_worker.handler"],
    ],
)
def test_cpu_workers_never_import_torch_or_transformers(modules):
    loaded = loaded_modules(*modules)
    assert "torch" not in loaded and "transformers" not in loaded


def test_orchestrator_imports_no_ml_library_and_no_worker():
    loaded = loaded_modules("orchestrator.app")
    assert not loaded & ML_LIBRARIES
    assert not loaded & {"preprocess_worker", "inference_worker", "postprocess_worker", "runpod"}
    assert WORKER_RUNTIME not in loaded


# The orchestrator's modules that run stages in its own process (LAYOUT=inline; the all-stage
# worker runs them too): the only ones that may import worker code, and only inside functions,
# so an orchestrator of another layout loads none.
IN_PROCESS_MODULES = {"in_process.py", "inline_layout.py"}
WORKER_CODE = {*WORKERS, WORKER_RUNTIME}


def imported_packages(folder: Path, skip: set[str] = frozenset()) -> set[str]:
    """Top-level packages the .py files under `folder` import anywhere (files named in
    `skip` left out)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        if path.name in skip:
            continue
        names |= packages_imported_by(ast.walk(ast.parse(path.read_text())))
    return names


def packages_imported_by(nodes) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("component", COMPONENTS)
def test_components_import_contracts_and_never_each_other(component):
    imported = imported_packages(REPO_ROOT / component, skip=IN_PROCESS_MODULES)
    assert "contracts" in imported
    assert not imported & (set(COMPONENTS) - {component})


def test_contracts_import_nothing_of_the_project():
    assert not imported_packages(REPO_ROOT / "contracts") & {
        *COMPONENTS,
        WORKER_RUNTIME,
        "scripts",
        "benchmarks",
        "tests",
    }


def test_contracts_import_pydantic_alone():
    """Data and rules only (downloads, start-up and the job wrapper are the worker runtime's):
    the standard library and pydantic, nothing else."""
    outside = imported_packages(REPO_ROOT / "contracts") - {"contracts"}
    assert outside - set(sys.stdlib_module_names) <= CONTRACTS_LIBRARIES


@pytest.mark.parametrize("folder", ["orchestrator", "contracts", "deploy"])
def test_worker_runtime_is_imported_by_workers_only(folder):
    assert WORKER_RUNTIME not in imported_packages(REPO_ROOT / folder, skip=IN_PROCESS_MODULES)


@pytest.mark.parametrize("module", sorted(IN_PROCESS_MODULES))
def test_the_orchestrator_imports_worker_code_inside_functions_only(module):
    """At module level, the in-process modules import no worker code: importing them (as the
    all-stage worker does) loads nothing a layout does not use."""
    tree = ast.parse((REPO_ROOT / "orchestrator" / module).read_text())
    assert not packages_imported_by(tree.body) & WORKER_CODE


def test_nothing_imports_the_all_stage_worker():
    for folder in [*COMPONENTS, WORKER_RUNTIME, "contracts", "deploy"]:
        assert "single_worker" not in imported_packages(REPO_ROOT / folder)


def modules_loaded_by(script: str) -> set[str]:
    """Top-level modules loaded once `script` has run in a fresh interpreter."""
    code = (
        script
        + "import json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_inline_orchestrator_loads_no_torch_or_transformers(tiny_onnx_model_dir):
    """LAYOUT=inline with the CPU inference here too: tokenizers and ONNX Runtime, never torch
    or transformers (the orchestrator image holds neither)."""
    loaded = modules_loaded_by(
        "from orchestrator.inline_layout import inline_stages\n"
        "from orchestrator.settings import OrchestratorSettings\n"
        f"settings = OrchestratorSettings(layout='inline', model_id={str(tiny_onnx_model_dir)!r},"
        " cpu_inference_endpoint='inline')\n"
        "with inline_stages(settings) as stages:\n"
        "    assert len(stages) == 3, stages\n"
    )
    assert "tokenizers" in loaded and "onnxruntime" in loaded
    assert not loaded & {"torch", "transformers", "runpod"}


def test_the_all_stage_cpu_worker_loads_no_torch_or_transformers(tiny_onnx_model_dir):
    """The single-cpu image's handler (BACKEND=onnx) runs a job on ONNX Runtime: the GPU
    image's requirements are not its own."""
    loaded = modules_loaded_by(
        "import asyncio\n"
        "from single_worker.handler import make_handler\n"
        "from single_worker.settings import SingleSettings\n"
        f"settings = SingleSettings(model_id={str(tiny_onnx_model_dir)!r}, backend='onnx')\n"
        "answer = asyncio.run(make_handler(settings)({'id': 'j', 'input': {'text': 'Fine.'}}))\n"
        "assert 'classification' in answer, answer\n"
    )
    assert "onnxruntime" in loaded and not loaded & {"torch", "transformers"}


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_run_in_the_worker_runtime(worker):
    assert WORKER_RUNTIME in imported_packages(REPO_ROOT / worker)


def test_worker_runtime_imports_no_worker_and_no_orchestrator():
    imported = imported_packages(REPO_ROOT / WORKER_RUNTIME)
    assert "contracts" in imported
    assert not imported & set(COMPONENTS)


def test_worker_runtime_loads_no_ml_library_until_asked():
    """The postprocess image has no tokenizers: only the windowing module imports it."""
    loaded = loaded_modules(
        "worker_runtime.jobs",
        "worker_runtime.serve",
        "worker_runtime.settings",
        "worker_runtime.model_files",
    )
    assert not loaded & ML_LIBRARIES
    assert "runpod" not in loaded
