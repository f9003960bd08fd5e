"""The all-stage images (LAYOUT=single): docker/single.Dockerfile (GPU, torch) and its twin
docker/single-cpu.Dockerfile (ONNX Runtime, no torch); offline checks, as
tests/repo/test_dockerfiles.py makes of the other images."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo.test_dockerfiles import (
    DOCKER_DIR,
    REPO_ROOT,
    hadolint_binary,
    parse_dockerfile,
)
from tests.repo.test_image_requirements import included_files, pinned_distributions

DOCKERFILE = DOCKER_DIR / "single.Dockerfile"
REQUIREMENTS = REPO_ROOT / "single_worker" / "requirements.txt"
# The twin on ONNX Runtime, for the short texts of the smart variant.
CPU_DOCKERFILE = DOCKER_DIR / "single-cpu.Dockerfile"
CPU_REQUIREMENTS = REPO_ROOT / "single_worker" / "requirements-cpu.txt"
DOCKERFILES = pytest.mark.parametrize(
    "dockerfile", [DOCKERFILE, CPU_DOCKERFILE], ids=lambda p: p.stem
)


def pins(path: Path) -> dict[str, str]:
    """name -> version, of the file and the files it includes."""
    lines = [line for file in included_files(path) for line in file.read_text().splitlines()]
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


@DOCKERFILES
def test_hadolint_reports_nothing(tmp_path: Path, dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout + result.stderr


def test_it_installs_its_requirements_with_the_same_pins_as_the_images_it_joins():
    [builder] = [s for s in parse_dockerfile(DOCKERFILE) if s.name == "builder"]
    copies = [i.args for i in builder.all("COPY")]
    assert "single_worker/requirements.txt /tmp/requirements.txt" in copies
    mine = pins(REQUIREMENTS)
    for other in ("inference_worker/requirements.txt", "orchestrator/requirements.txt"):
        theirs = pins(REPO_ROOT / other)
        assert {k: mine[k] for k in mine.keys() & theirs.keys()} == {
            k: theirs[k] for k in mine.keys() & theirs.keys()
        }, other
    assert {"torch", "fastapi", "httpx"} <= set(mine)
    assert pinned_distributions(REQUIREMENTS)


def test_the_cpu_twin_installs_the_same_pins_without_torch():
    [builder] = [s for s in parse_dockerfile(CPU_DOCKERFILE) if s.name == "builder"]
    copies = " ".join(i.args for i in builder.all("COPY"))
    # The file and the file it includes, at their repository paths.
    for file in included_files(CPU_REQUIREMENTS):
        assert f"{file.relative_to(REPO_ROOT)} " in copies
    cpu, gpu = pins(CPU_REQUIREMENTS), pins(REQUIREMENTS)
    assert {k: cpu[k] for k in cpu.keys() & gpu.keys()} == {
        k: gpu[k] for k in cpu.keys() & gpu.keys()
    }
    assert set(gpu) - set(cpu) == {"torch", "transformers", "safetensors"}
    assert set(cpu) - set(gpu) == {"onnxruntime"}
    runtime = parse_dockerfile(CPU_DOCKERFILE)[-1]
    assert runtime.base.startswith("python:") and runtime.env()["BACKEND"] == "onnx"
    # The same code as the GPU image: only what is installed, and the model's form, differ.
    code = [i.args for i in runtime.all("COPY") if "--from" not in i.args]
    gpu_runtime = parse_dockerfile(DOCKERFILE)[-1]
    assert sorted(code) == sorted(i.args for i in gpu_runtime.all("COPY") if "--from" not in i.args)


@DOCKERFILES
def test_it_holds_every_package_its_handler_loads(dockerfile: Path):
    """The project's packages `single_worker.handler` imports, each copied into the image (and
    let into the build context); uvicorn is not among them: no web server runs there."""
    code = (
        "import json, sys, single_worker.handler\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, check=True
            ).stdout
        )
    )
    project = {p.name for p in REPO_ROOT.iterdir() if (p / "__init__.py").exists()}
    needed = loaded & project
    runtime = parse_dockerfile(dockerfile)[-1]
    copied = {i.args.split()[0].rstrip("/") for i in runtime.all("COPY") if "--from" not in i.args}
    assert needed <= copied
    assert "uvicorn" not in loaded
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert all(f"!{package}/" in ignore for package in needed)
    assert runtime.all("WORKDIR")[-1].args == "/app/single_worker"


@pytest.mark.parametrize("key", ["text"])
def test_its_local_test_input_is_one_text(key):
    job = json.loads((REPO_ROOT / "single_worker" / "test_input.json").read_text())
    assert set(job["input"]) == {key}
