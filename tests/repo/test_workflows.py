"""Offline checks of the GitHub Actions workflows in .github/workflows/.

Each workflow must match the GitHub workflow JSON schema (check-jsonschema's built-in copy),
give every job a timeout, pass zizmor's offline audits with nothing above low severity,
pin every action to a full commit SHA and check out without persisting credentials.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml")) + sorted(WORKFLOW_DIR.glob("*.yaml"))
BIN = Path(sys.executable).parent
COMPONENTS = ("preprocess", "inference", "postprocess", "orchestrator")
# The images: one per component, the inference worker's CPU image (BACKEND=onnx), the
# single layout's all-stage handler (and its twin on ONNX Runtime) and the inline layout's
# orchestrator.
IMAGES = (*COMPONENTS, "inference-cpu", "single", "single-cpu", "orchestrator-inline")
# The images that run worker code (worker_runtime/).
WORKER_CODE_IMAGES = {c for c in IMAGES if c != "orchestrator"}
# The single images run the three workers' stage code: their folders are their own inputs.
ALL_STAGE_CODE = {
    *(f"{component}_worker/**" for component in ("preprocess", "inference", "postprocess")),
    # The orchestrator's pipeline, which runs the three stages in one job.
    "orchestrator/**",
}
SHARED_STAGE_CODE = {
    "single": ALL_STAGE_CODE,
    "single-cpu": ALL_STAGE_CODE,
    # The inline orchestrator runs preprocess, postprocess and the CPU inference itself.
    "orchestrator-inline": {
        *(f"{component}_worker/**" for component in ("preprocess", "inference", "postprocess")),
    },
}
# Another component's files that an image's build stage runs (never copied into the image):
# the inference images write their test_input.json with the preprocess code.
BUILD_STAGE_INPUTS = {
    image: {"preprocess_worker/**", "scripts/write_test_input.py"}
    for image in ("inference", "inference-cpu")
}


def folder_of(image: str) -> str:
    if image in ("orchestrator", "orchestrator-inline"):
        return "orchestrator"
    if image == "single-cpu":
        return "single_worker"
    return "inference_worker" if image == "inference-cpu" else f"{image}_worker"


workflow_params = pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)


def load(workflow: Path) -> dict:
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=180,
        check=False,
    )


def test_the_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "images.yml"}


@workflow_params
@pytest.mark.parametrize(
    "schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"]
)
def test_workflow_matches_schema(workflow: Path, schema: str) -> None:
    result = run_tool("check-jsonschema", "--builtin-schema", schema, str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


@workflow_params
def test_zizmor_finds_nothing_above_low(workflow: Path) -> None:
    result = run_tool(
        "zizmor", "--offline", "--format", "json", "--min-severity", "medium", str(workflow)
    )
    assert result.stdout.strip(), f"zizmor printed nothing: {result.stderr}"
    findings = json.loads(result.stdout)
    readable = "\n".join(
        f"{f.get('ident')}: {f.get('desc')} ({f.get('determinations', {}).get('severity')})"
        for f in findings
    )
    assert findings == [], f"zizmor on {workflow.name}:\n{readable}"
    # zizmor exits non-zero for findings (or errors) even where the JSON is empty.
    assert result.returncode == 0, result.stderr


def all_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@workflow_params
def test_actions_are_pinned_to_commit_shas(workflow: Path) -> None:
    text = workflow.read_text(encoding="utf-8")
    for step in all_steps(load(workflow)):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"not pinned: {uses}"
        # A version comment beside the SHA says which release it is.
        line = re.search(rf"uses:\s*{re.escape(uses)}\s*#\s*v\d+(\.\d+)*\s*$", text, re.M)
        assert line, f"{uses}: add a `# vX.Y.Z` comment"


@workflow_params
def test_checkout_does_not_persist_credentials(workflow: Path) -> None:
    checkouts = [s for s in all_steps(load(workflow)) if "actions/checkout@" in s.get("uses", "")]
    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False


@workflow_params
def test_permissions_are_least_privilege(workflow: Path) -> None:
    data = load(workflow)
    assert data.get("permissions") == {}, "top level: `permissions: {}`; grant per job"
    for name, job in data["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}: set job permissions explicitly"
        assert "write-all" not in json.dumps(permissions)
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= {"packages"}, f"{name} writes {writes}"
        if writes:
            steps = [s.get("uses", "") + json.dumps(s.get("with", {})) for s in job["steps"]]
            assert any('"push": true' in s for s in steps), f"{name}: packages write, no push"


def test_ci_runs_make_test_on_python_311_with_cpu_torch() -> None:
    data = load(WORKFLOW_DIR / "ci.yml")
    assert {"push", "pull_request"} <= set(data["on"])
    (job,) = data["jobs"].values()
    setup = next(s for s in job["steps"] if "actions/setup-python@" in s.get("uses", ""))
    assert setup["with"]["python-version"] == "3.11"
    runs = [s.get("run", "") for s in job["steps"]]
    assert "make test" in runs
    assert job["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"


def test_images_workflow_builds_every_image_and_pushes_only_outside_pull_requests() -> None:
    data = load(WORKFLOW_DIR / "images.yml")
    assert {"push", "pull_request"} <= set(data["on"])
    jobs = data["jobs"]
    filters = yaml.safe_load(
        next(s for s in jobs["changes"]["steps"] if "paths-filter@" in s.get("uses", ""))["with"][
            "filters"
        ]
    )
    assert set(filters) == set(IMAGES)
    for component, paths in filters.items():
        folder = folder_of(component)
        assert "contracts/**" in paths, "a contracts/ change rebuilds every image"
        worker_image = component in WORKER_CODE_IMAGES
        assert ("worker_runtime/**" in paths) is worker_image, "the worker runtime: workers only"
        assert f"{folder}/**" in paths
        assert f"docker/{component}.Dockerfile" in paths
        others = [c for c in IMAGES if c != component]
        foreign = {f"{folder_of(c)}/**" for c in others if folder_of(c) != folder}
        foreign |= {f"docker/{c}.Dockerfile" for c in others}
        own_paths = set(paths) - BUILD_STAGE_INPUTS.get(component, set())
        own_paths -= SHARED_STAGE_CODE.get(component, set())
        assert not own_paths & foreign, f"{component}: {sorted(own_paths & foreign)}"
    # Tags and manual runs build every image.
    matrix_step = next(s for s in jobs["changes"]["steps"] if s.get("id") == "matrix")
    assert all(f'"{image}"' in matrix_step["run"] for image in IMAGES)
    for name, push in (("build", False), ("publish", True)):
        job = jobs[name]
        assert job["strategy"]["matrix"]["component"].startswith("${{ fromJSON(")
        build = next(s for s in job["steps"] if "build-push-action@" in s.get("uses", ""))
        assert build["with"]["push"] is push
        assert build["with"]["platforms"] == "linux/amd64"
        assert "scope=image-${{ matrix.component }}" in build["with"]["cache-from"]
        logins = [s for s in job["steps"] if "login-action@" in s.get("uses", "")]
        assert bool(logins) is push, f"{name}: log in only where pushing"
        meta = next(s for s in job["steps"] if "metadata-action@" in s.get("uses", ""))
        assert "type=sha" in meta["with"]["tags"]
    assert "pull_request" in jobs["changes"]["steps"][-1]["env"]["PUBLISH"]
    publish_tags = next(
        s for s in jobs["publish"]["steps"] if "metadata-action@" in s.get("uses", "")
    )["with"]["tags"]
    assert "type=semver" in publish_tags
    assert "value=latest,enable={{is_default_branch}}" in publish_tags


def test_every_file_an_image_copies_is_in_its_rebuild_filter() -> None:
    from tests.repo.test_dockerfiles import CONTEXT_MODEL, dockerfile_path, parse_dockerfile

    data = load(WORKFLOW_DIR / "images.yml")
    step = next(s for s in data["jobs"]["changes"]["steps"] if "paths-filter@" in s.get("uses", ""))
    filters = yaml.safe_load(step["with"]["filters"])
    for component in IMAGES:
        patterns = filters[component]
        if not dockerfile_path(component).is_file():
            # docker/single.Dockerfile comes with single_worker/ (the layouts branch); no
            # other image may be missing.
            assert component == "single", f"docker/{component}.Dockerfile is missing"
            continue
        for stage in parse_dockerfile(dockerfile_path(component)):
            for instruction in stage.all("COPY"):
                flags, words = instruction.flags_and_operands()
                if "from" in flags:
                    continue
                for source in words[:-1]:
                    source = source.rstrip("/")
                    if source == CONTEXT_MODEL:
                        continue  # a local build's model, never in git
                    covered = any(
                        source == p or (p.endswith("/**") and source.startswith(p[:-3]))
                        for p in patterns
                    )
                    assert covered, f"{component}: a change to {source} would not rebuild it"
