"""Each image's requirements file, alone, is enough for its component.

For each image but single, a fresh virtualenv gets exactly what the image installs (its
requirements file and nothing else, as the Dockerfile's builder stage does). Then:
- its installed size is printed and recorded (record_property);
- the CPU images (preprocess, postprocess, orchestrator, inference-cpu) hold no torch, no
  transformers and no CUDA wheels;
- each worker runs one job in Runpod's local test mode (`python handler.py`, reading
  ./test_input.json) with the tiny offline model, and exits 0. It runs from a copy laid out as
  the image's /app (contracts/, worker_runtime/ and its own folder only);
- inference-cpu runs the inference worker with BACKEND=onnx on the tiny model exported by
  scripts/export_onnx.py, whose model.onnx size is printed and recorded;
- the preprocess and inference workers also start the way their images run them: MODEL_ID a
  Hub id, the model's files only in the Hugging Face cache under HF_HOME (tokenizer files only
  for preprocess; tokenizer, config and model.onnx for inference-cpu), HF_HUB_OFFLINE=1;
- the orchestrator's app imports without torch, transformers or tokenizers;
- the inline layout's orchestrator (orchestrator-inline) answers /classify-smart with
  preprocess, ONNX Runtime inference and postprocess all in its own process, from a copy laid
  out as its image's /app and the model baked into HF_HOME, offline, with no torch loaded;
- the single layout's all-stage worker on ONNX Runtime (single-cpu) runs its test input in
  Runpod's local test mode, laid out as its image's /app, the model baked into HF_HOME.

The venvs are cached under .cache/image-venvs/<component>-<hash>, keyed by the requirements
file and the interpreter, and built atomically (a temporary folder renamed into place), so an
interrupted build is never reused. Only `bin/python` of a cached venv is used: venvs are not
relocatable, and console scripts still name the temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.hf_cache import bake_into_hf_cache
from worker_runtime.model_files import MODEL_FILES, ONNX_FILES, ONNX_MODEL_FILE, TOKENIZER_FILES

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "image-venvs"
FOLDERS = {
    "preprocess": "preprocess_worker",
    "inference": "inference_worker",
    "postprocess": "postprocess_worker",
    "orchestrator": "orchestrator",
    "inference-cpu": "inference_worker",
    "orchestrator-inline": "orchestrator",
    "single-cpu": "single_worker",
}
# Each image's requirements file, where it is not its folder's requirements.txt.
REQUIREMENTS = {
    "inference-cpu": "inference_worker/requirements-cpu.txt",
    "orchestrator-inline": "orchestrator/requirements-inline.txt",
    "single-cpu": "single_worker/requirements-cpu.txt",
}
# What the inline orchestrator's image holds beside contracts/ and orchestrator/: the stage
# code it runs in its own process (docker/orchestrator-inline.Dockerfile).
INLINE_STAGE_CODE = (
    "worker_runtime",
    "preprocess_worker",
    "postprocess_worker",
    "inference_worker",
)
# What the image's runtime stage sets beyond the model (docker/inference-cpu.Dockerfile).
IMAGE_ENV = {"inference-cpu": {"BACKEND": "onnx"}, "single-cpu": {"BACKEND": "onnx"}}
# The model files each model image bakes into its Hugging Face cache.
BAKED_FILES = {"preprocess": TOKENIZER_FILES, "inference": MODEL_FILES, "inference-cpu": ONNX_FILES}
WORKERS = ("preprocess", "inference", "postprocess", "inference-cpu")
MODEL_IMAGES = ("preprocess", "inference", "inference-cpu")
CPU_IMAGES = (
    "preprocess",
    "postprocess",
    "orchestrator",
    "inference-cpu",
    "orchestrator-inline",
    "single-cpu",
)
# What the all-stage image holds beside contracts/ and single_worker/: the three stages and
# the orchestrator's pipeline that runs them (docker/single-cpu.Dockerfile).
ALL_STAGE_CODE = (*INLINE_STAGE_CODE, "orchestrator")
# The images whose build stage writes test_input.json for the model at hand.
TEST_INPUT_IMAGES = ("inference", "inference-cpu")
# Distributions that must never be in a CPU image.
ML_DISTRIBUTIONS = ("torch", "transformers", "triton")
STALE_TEMP_SECONDS = 3600
INSTALL_TIMEOUT = 1800
RUN_TIMEOUT = 300

pytestmark = pytest.mark.slow


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would leak another interpreter or
    make the Runpod SDK believe it runs on Runpod."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        and not key.startswith("RUNPOD_")
    }
    env.update(extra)
    return env


def included_files(requirements: Path) -> list[Path]:
    """The file and every file it includes with `-r`, recursively."""
    files = [requirements]
    for line in requirements.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in ("-r", "--requirement"):
            files += included_files((requirements.parent / words[1]).resolve())
    return files


def venv_key(requirements: Path) -> str:
    digest = hashlib.sha256()
    for file in included_files(requirements):
        digest.update(file.read_bytes())
    digest.update(sys.version.encode())  # a new interpreter gets a new venv
    return digest.hexdigest()[:16]


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    (path,) = (venv / "lib").glob("python3.*/site-packages")
    return path


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def requirements_of(component: str) -> Path:
    return REPO_ROOT / REQUIREMENTS.get(component, f"{FOLDERS[component]}/requirements.txt")


def pinned_distributions(requirements: Path) -> set[str]:
    """The distributions a requirements file names, spelt as installed_distributions spells them."""
    names = set()
    for included in included_files(requirements)[1:]:
        names |= pinned_distributions(included)
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]
            names.add(name.lower().replace("_", "-"))
    return names


def build_venv(component: str) -> Path:
    requirements = requirements_of(component)
    target = CACHE_DIR / f"{component}-{venv_key(requirements)}"
    if (target / ".complete").is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Leftovers of interrupted builds (old enough not to be another run's build in progress).
    for leftover in CACHE_DIR.glob(f".tmp-{component}-*"):
        if time.time() - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
            shutil.rmtree(leftover, ignore_errors=True)
    temp = CACHE_DIR / f".tmp-{component}-{uuid.uuid4().hex[:8]}"
    try:
        # No pip inside: the dev venv's pip installs into it (`pip --python`), so the venv
        # holds exactly the requirements and its size is theirs alone.
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(temp)],
            check=True,
            env=clean_env(),
            timeout=120,
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python_of(temp)),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(requirements),
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, (
            f"pip install -r {requirements.relative_to(REPO_ROOT)} failed:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        (temp / ".complete").write_text(requirements.read_text(encoding="utf-8"))
        try:
            temp.rename(target)
        except OSError:
            # Another run put the same venv in place first: use that one.
            if not (target / ".complete").is_file():
                raise
            shutil.rmtree(temp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    # Venvs of older requirements of this component are of no further use.
    for old in CACHE_DIR.glob(f"{component}-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def image_venvs() -> dict[str, Path]:
    """component -> its venv, built at most once a session (lazily, per component)."""
    return {}


@pytest.fixture
def image_venv(request: pytest.FixtureRequest, image_venvs: dict[str, Path]):
    def get(component: str) -> Path:
        if component not in image_venvs:
            image_venvs[component] = build_venv(component)
        return image_venvs[component]

    return get


def installed_distributions(venv: Path) -> set[str]:
    script = (
        "import importlib.metadata as m\n"
        "print('\\n'.join(sorted({d.metadata['Name'].lower().replace('_', '-')"
        " for d in m.distributions()})))"
    )
    result = subprocess.run(
        [str(python_of(venv)), "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=RUN_TIMEOUT,
        check=True,
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("component", list(FOLDERS))
def test_image_venv_size(
    component: str,
    image_venv,
    record_property,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    venv = image_venv(component)
    seconds = time.monotonic() - started
    size_mb = tree_size(site_packages(venv)) / 1e6
    distributions = installed_distributions(venv)
    record_property("site_packages_mb", round(size_mb, 1))
    record_property("distributions", len(distributions))
    with capsys.disabled():  # printed with or without -s
        print(
            f"\n[image venv] {component}: {size_mb:,.1f} MB in site-packages, "
            f"{len(distributions)} distributions ({venv.relative_to(REPO_ROOT)}, "
            f"ready in {seconds:.1f} s)"
        )
    # The venv holds what its requirements file pins (the size above is theirs).
    missing = pinned_distributions(requirements_of(component)) - distributions
    assert not missing, f"{component}'s venv lacks {sorted(missing)}"


@pytest.mark.parametrize("component", CPU_IMAGES)
def test_cpu_image_has_no_ml_libraries(component: str, image_venv) -> None:
    venv = image_venv(component)
    distributions = installed_distributions(venv)
    forbidden = {d for d in distributions if d in ML_DISTRIBUTIONS or d.startswith("nvidia-")}
    assert not forbidden, f"{component} image would install {sorted(forbidden)}"
    if component == "orchestrator":
        assert not {"tokenizers", "huggingface-hub"} & distributions
    # And not importable either (no stray copy on the path).
    result = subprocess.run(
        [
            str(python_of(venv)),
            "-c",
            "import importlib.util, sys; "
            "sys.exit(any(importlib.util.find_spec(m) for m in ('torch', 'transformers')))",
        ],
        cwd=REPO_ROOT,
        env=clean_env(),
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"torch or transformers importable in the {component} venv"


def image_layout(component: str, root: Path) -> Path:
    """`root` laid out as the image's /app: contracts/, the worker runtime (workers only) and
    the component's folder, nothing else of the repository (so an import of another
    component's code fails here as in the image)."""
    app = root / "app"
    shared = ("contracts", "worker_runtime") if component in WORKERS else ("contracts",)
    if component == "orchestrator-inline":
        shared = ("contracts", *INLINE_STAGE_CODE)
    if component == "single-cpu":
        shared = ("contracts", *ALL_STAGE_CODE)
    for folder in (*shared, FOLDERS[component]):
        if not (app / folder).exists():
            shutil.copytree(
                REPO_ROOT / folder,
                app / folder,
                # As .dockerignore: the inference image makes its own test_input.json.
                ignore=shutil.ignore_patterns(
                    "__pycache__",
                    "*.pyc",
                    *(["test_input.json"] if folder == "inference_worker" else []),
                ),
            )
    return app


def run_local_test_mode(component: str, venv: Path, app: Path, **env: str) -> None:
    """`python handler.py` in the worker's folder: one job from ./test_input.json, then exit."""
    worker_dir = app / FOLDERS[component]
    run_env = clean_env(
        RUNPOD_LOG_LEVEL="INFO", HF_HUB_OFFLINE="1", **IMAGE_ENV.get(component, {}), **env
    )

    def run(args: list[str], cwd: Path) -> None:
        result = subprocess.run(
            [str(python_of(venv)), *args],
            cwd=cwd,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{component}: {args} exited {result.returncode}:\n{output}"

    if component in TEST_INPUT_IMAGES:
        # As the image's build stage does, with the image's virtualenv: the real preprocess
        # code makes the job for the model at hand.
        run(["-m", "scripts.write_test_input", str(worker_dir / "test_input.json")], REPO_ROOT)
    assert (worker_dir / "test_input.json").is_file()
    run(["handler.py"], worker_dir)


def model_dir_of(component: str, request: pytest.FixtureRequest) -> Path:
    """The tiny model as the image holds it: exported to model.onnx for inference-cpu."""
    fixture = "tiny_onnx_model_dir" if component == "inference-cpu" else "tiny_model_dir"
    return request.getfixturevalue(fixture)


@pytest.mark.parametrize("component", WORKERS)
def test_worker_runs_its_test_input_in_local_test_mode(
    component: str, image_venv, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app = image_layout(component, tmp_path)
    model_dir = model_dir_of(component, request)
    run_local_test_mode(component, image_venv(component), app, MODEL_ID=str(model_dir))


def test_cpu_inference_image_model_size(
    tiny_onnx_model_dir: Path, record_property, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exported model is the CPU inference image's other payload: reported as its venv."""
    size_mb = (tiny_onnx_model_dir / ONNX_MODEL_FILE).stat().st_size / 1e6
    record_property("onnx_model_mb", round(size_mb, 3))
    with capsys.disabled():
        print(
            f"\n[image model] inference-cpu: {ONNX_MODEL_FILE} of the tiny model {size_mb:.2f} MB"
        )
    # The weights are inside the one file the image copies, not in external data beside it.
    weights = (tiny_onnx_model_dir / "model.safetensors").stat().st_size
    assert size_mb * 1e6 >= weights, f"{ONNX_MODEL_FILE} is smaller than the model's weights"


@pytest.mark.parametrize("component", MODEL_IMAGES)
def test_worker_uses_the_model_baked_into_hf_home_offline(
    component: str, image_venv, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    hf_home = tmp_path / "hf-home"
    repo_id = "sentiment-test/tiny-distilbert"
    bake_into_hf_cache(model_dir_of(component, request), hf_home, repo_id, BAKED_FILES[component])
    run_local_test_mode(
        component,
        image_venv(component),
        image_layout(component, tmp_path),
        MODEL_ID=repo_id,
        MODEL_REVISION="main",
        HF_HOME=str(hf_home),
    )


def test_orchestrator_app_imports_without_ml_libraries(image_venv, tmp_path: Path) -> None:
    venv = image_venv("orchestrator")
    app = image_layout("orchestrator", tmp_path)
    script = (
        "import sys\n"
        "import orchestrator.app\n"
        "loaded = sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules)\n"
        "sys.exit(f'loaded {loaded}' if loaded else 0)\n"
    )
    result = subprocess.run(
        [str(python_of(venv)), "-c", script],
        cwd=app,  # the image's WORKDIR /app
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_inline_orchestrator_classifies_in_its_own_process(
    image_venv, tiny_onnx_model_dir: Path, tmp_path: Path
) -> None:
    """The orchestrator-inline image's start: LAYOUT=inline (set by the image), the model in
    HF_HOME as its build bakes it, short texts' inference here too (CPU_INFERENCE_ENDPOINT=
    inline, as deploy sets with smart). /classify-smart on a short text reaches no endpoint."""
    hf_home = tmp_path / "hf-home"
    repo_id = "sentiment-test/tiny-distilbert"
    bake_into_hf_cache(tiny_onnx_model_dir, hf_home, repo_id, ONNX_FILES)
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from orchestrator.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    answer = client.post('/classify-smart', json={'text': 'a fine film'})\n"
        "    assert answer.status_code == 200, answer.text\n"
        "    timings = answer.json()['timings']\n"
        "    assert all(timings[s]['in_process'] for s in ('preprocess', 'postprocess')), timings\n"
        "loaded = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "sys.exit(f'loaded {loaded}' if loaded else 0)\n"
    )
    result = subprocess.run(
        [str(python_of(image_venv("orchestrator-inline"))), "-c", script],
        cwd=image_layout("orchestrator-inline", tmp_path),  # the image's WORKDIR /app
        env=clean_env(
            LAYOUT="inline",
            MODEL_ID=repo_id,
            MODEL_REVISION="main",
            HF_HOME=str(hf_home),
            HF_HUB_OFFLINE="1",
            CPU_INFERENCE_ENDPOINT="inline",
            # Never called: a short text's inference runs in process.
            INFERENCE_ENDPOINT="http://127.0.0.1:9",
        ),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_the_all_stage_cpu_worker_runs_its_test_input_on_its_baked_model(
    image_venv, tiny_onnx_model_dir: Path, tmp_path: Path
) -> None:
    """The single-cpu image's start: BACKEND=onnx (set by the image), the model in HF_HOME as
    its build bakes it (tokenizer, config, model.onnx), offline. Its virtualenv has no torch
    (test_cpu_image_has_no_ml_libraries), so a job that completes imported none."""
    hf_home = tmp_path / "hf-home"
    repo_id = "sentiment-test/tiny-distilbert"
    bake_into_hf_cache(tiny_onnx_model_dir, hf_home, repo_id, ONNX_FILES)
    run_local_test_mode(
        "single-cpu",
        image_venv("single-cpu"),
        image_layout("single-cpu", tmp_path),
        MODEL_ID=repo_id,
        MODEL_REVISION="main",
        HF_HOME=str(hf_home),
    )
