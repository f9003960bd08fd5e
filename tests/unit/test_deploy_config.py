"""The deployment file: its defaults, and every mistake refused with the key it is about."""

import json
import re
from pathlib import Path

import pytest
import yaml

from deploy.checks import check_deployment
from deploy.config import ConfigError, DeployStage, Layout, load_config, parse_config
from deploy.layouts import stage_image, unused_stages
from tests.repo.test_architecture import REPO_ROOT, imported_packages, loaded_modules
from worker_runtime.model_files import DEFAULT_MODEL_ID

DEPLOY_FILE = REPO_ROOT / "deploy.toml"
OWN_REGISTRY = "ghcr.io/acme/sentiment"


def repo_file_text() -> str:
    return DEPLOY_FILE.read_text(encoding="utf-8").replace("ghcr.io/OWNER/REPO", OWN_REGISTRY)


def edited(*replacements: tuple[str, str]) -> str:
    text = repo_file_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def without_the_cpu_stage(text: str) -> str:
    start = text.index("# The CPU inference endpoint:")
    return text[:start] + text[text.index("[stages.postprocess]") :]


# The repository file's layout (split, smart); it also holds the single layout's tables.
STAGES = tuple(s for s in DeployStage if s not in (DeployStage.SINGLE, DeployStage.SINGLE_CPU))
SINGLE_TABLES = (DeployStage.SINGLE, DeployStage.SINGLE_CPU)


def other_warnings(warnings: list[str]) -> list[str]:
    """The warnings besides the one naming the tables the layout does not use."""
    return [w for w in warnings if not w.startswith('layout "')]


def problems(text: str) -> list[str]:
    """Every problem the file has: parse and per-stage errors, then cross-stage checks."""
    try:
        config = parse_config(text, Path("deploy.toml"))
    except ConfigError as exc:
        return exc.problems
    return check_deployment(config).errors


def test_the_repository_file_is_valid_once_it_names_a_registry():
    config = parse_config(repo_file_text(), DEPLOY_FILE)
    findings = check_deployment(config)
    assert findings.errors == [] and other_warnings(findings.warnings) == []
    assert unused_stages(config) == SINGLE_TABLES
    assert config.listed_stages == tuple(DeployStage)
    assert config.image(DeployStage.PREPROCESS) == f"{OWN_REGISTRY}/preprocess:1.0.0"
    assert config.image(DeployStage.INFERENCE_CPU) == f"{OWN_REGISTRY}/inference-cpu:1.0.0"
    for stage in ("preprocess", "inference", "inference_cpu"):
        assert config.stage(DeployStage(stage)).env["MODEL_ID"] == DEFAULT_MODEL_ID


def test_the_cpu_inference_stage_may_be_left_out():
    config = parse_config(without_the_cpu_stage(repo_file_text()), DEPLOY_FILE)
    assert DeployStage.INFERENCE_CPU not in config.listed_stages
    assert len(config.listed_stages) == 6 and not config.lists(DeployStage.INFERENCE_CPU)
    assert not config.smart
    findings = check_deployment(config)
    assert findings.errors == [] and other_warnings(findings.warnings) == []
    with pytest.raises(KeyError, match=r"no \[stages.inference_cpu\]"):
        config.stage(DeployStage.INFERENCE_CPU)


def test_the_placeholder_registry_is_refused_by_name():
    config = load_config(DEPLOY_FILE)
    (error,) = check_deployment(config).errors
    assert error.startswith("deployment.registry:")


def test_the_defaults_are_the_readmes_recommended_settings():
    config = parse_config(repo_file_text(), DEPLOY_FILE)
    pre, inf, cpu, post, orch = (config.stage(stage) for stage in STAGES)
    assert config.deployment.layout == "split" and config.smart
    assert pre.cpu_instances == ["cpu3c-2-4"] and pre.env["RUNPOD_MIN_MEMORY_GB"] == "1"
    assert (pre.idle_timeout_s, pre.execution_timeout_s, pre.workers_min) == (5, 60, 0)
    assert set(inf.gpu_pools or []) == {"AMPERE_16", "ADA_24"}
    assert inf.allowed_cuda_versions == ["13.0"] and inf.env["RUNPOD_MIN_CUDA_VERSION"] == "13.0"
    assert inf.execution_timeout_s == 120 and 30 <= inf.idle_timeout_s <= 60
    assert post.cpu_instances == ["cpu3c-1-2"] and post.env["RUNPOD_MIN_MEMORY_GB"] == "1"
    # The CPU inference stage: a queue worker on the 2 vCPUs SMART_MAX_CPU_TOKENS was measured on.
    assert (cpu.image, cpu.type, cpu.cpu_instances) == ("inference-cpu", "queue", ["cpu3c-2-4"])
    assert cpu.env["RUNPOD_MIN_MEMORY_GB"] == "1" and cpu.workers_min == 0
    assert "CPU_INFERENCE_TIMEOUT_S" in orch.env
    assert orch.type == "load_balancer" and orch.http_port == 8888
    assert orch.env["RUNPOD_API_KEY"] == "{{ RUNPOD_SECRET_runpod_api_key }}"
    assert all(s.flashboot for s in (pre, inf, cpu, post, orch))


def test_the_file_points_at_what_the_images_workflow_publishes():
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/images.yml").read_text())
    if True in workflow:  # YAML 1.1 reads `on` as True
        workflow["on"] = workflow.pop(True)
    assert workflow["on"]["push"]["tags"] == ["v*"]
    meta = next(
        s for s in workflow["jobs"]["publish"]["steps"] if "metadata-action@" in s.get("uses", "")
    )
    assert meta["with"]["images"] == "ghcr.io/${{ github.repository }}/${{ matrix.component }}"
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]
    # Every image the workflow builds when it builds all (a tag), by the name deploy gives it.
    matrix = next(s for s in workflow["jobs"]["changes"]["steps"] if s.get("id") == "matrix")
    published = json.loads(re.search(r"components='(\[.*?\])'", matrix["run"]).group(1))
    config = parse_config(repo_file_text(), DEPLOY_FILE)
    # In every layout (inline runs orchestrator-inline for the orchestrator's image).
    deployed = set()
    for layout in Layout:
        text = repo_file_text().replace('layout = "split"', f'layout = "{layout.value}"', 1)
        in_layout = parse_config(text, DEPLOY_FILE)
        deployed |= {stage_image(in_layout, stage) for stage in in_layout.listed_stages}
    names = {ref.removeprefix(f"{OWN_REGISTRY}/").rsplit(":", 1)[0] for ref in deployed}
    assert names == set(published)
    for stage in config.listed_stages:
        # <registry>/<component>:<version>, the version being what tag v<version> publishes
        image = config.stage(stage).image
        assert re.fullmatch(rf"{OWN_REGISTRY}/{image}:\d+\.\d+\.\d+", config.image(stage))


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        (
            [('MODEL_REVISION = "main"\n# MAX_CONCURRENCY', 'MODEL_REVISION = "v2"\n# MAX_C')],
            "stages.inference.env.MODEL_REVISION: v2 differs from "
            "stages.preprocess.env.MODEL_REVISION (main)",
        ),
        (
            [
                (
                    'cpu_instances = ["cpu3c-1-2"]',
                    'gpu_pools = ["ADA_24"]\nallowed_cuda_versions = ["13.0"]',
                )
            ],
            "stages.postprocess.gpu_pools: the postprocess stage never uses a GPU",
        ),
        (
            [
                ('gpu_pools = ["AMPERE_16", "ADA_24"]', 'cpu_instances = ["cpu3g-8-32"]'),
                ("gpu_count = 1\n", ""),
                ('allowed_cuda_versions = ["13.0"]\n', ""),
            ],
            "stages.inference.cpu_instances: the inference image is the GPU build (torch, CUDA); "
            "give gpu_pools, and run inference on CPU with [stages.inference_cpu]",
        ),
        (
            [('RUNPOD_MIN_MEMORY_GB = "1"\n', "")],
            "stages.preprocess.env.RUNPOD_MIN_MEMORY_GB: an instance with 4 GB fails",
        ),
        (
            [('RUNPOD_MIN_MEMORY_GB = "1"\n', 'RUNPOD_MIN_MEMORY_GB = "4"\n')],
            "stages.preprocess.env.RUNPOD_MIN_MEMORY_GB: 4 GB cannot be available",
        ),
        (
            [('allowed_cuda_versions = ["13.0"]', 'allowed_cuda_versions = ["12.8", "13.0"]')],
            "stages.inference.allowed_cuda_versions: 12.8 is older than RUNPOD_MIN_CUDA_VERSION",
        ),
        (
            [('RUNPOD_MIN_CUDA_VERSION = "13.0"', "")],
            "stages.inference.env.RUNPOD_MIN_CUDA_VERSION: set it",
        ),
        (
            [('type = "load_balancer"', 'type = "queue"'), ("http_port = 8888", "")],
            "stages.orchestrator.type: the orchestrator image is a plain HTTP server",
        ),
        (
            [('LOG_LEVEL = "info"', 'LOG_LEVEL = "info"\nINFERENCE_ENDPOINT = "abc"')],
            "stages.orchestrator.env.INFERENCE_ENDPOINT: leave it out",
        ),
        (
            [('LOG_LEVEL = "info"', 'LOG_LEVEL = "info"\nCPU_INFERENCE_ENDPOINT = ""')],
            "stages.orchestrator.env.CPU_INFERENCE_ENDPOINT: leave it out; `deploy apply` sets "
            "it to the endpoint it made (empty when the file has no [stages.inference_cpu])",
        ),
        (
            [
                (
                    'MODEL_REVISION = "main"\n\n[stages.postprocess]',
                    'MODEL_REVISION = "v3"\n\n[stages.postprocess]',
                )
            ],
            "stages.inference_cpu.env.MODEL_REVISION: v3 differs from "
            "stages.preprocess.env.MODEL_REVISION (main); the inference_cpu worker refuses",
        ),
        (
            [
                (
                    'cpu_instances = ["cpu3c-2-4"]\nworkers_min',
                    'gpu_pools = ["ADA_24"]\nallowed_cuda_versions = ["13.0"]\nworkers_min',
                )
            ],
            "stages.inference_cpu.gpu_pools: the inference_cpu stage never uses a GPU",
        ),
        (
            [('RUNPOD_MIN_MEMORY_GB = "1"             # see the preprocess stage\n', "")],
            "stages.inference_cpu.env.RUNPOD_MIN_MEMORY_GB: an instance with 4 GB fails the "
            "Runpod SDK's start-up check",
        ),
        (
            [('RUNPOD_API_KEY = "{{ RUNPOD_SECRET_runpod_api_key }}"', "")],
            "stages.orchestrator.env.RUNPOD_API_KEY: the orchestrator calls",
        ),
    ],
    ids=[
        "model",
        "cpu-on-gpu",
        "gpu-on-cpu",
        "memory-missing",
        "memory-too-high",
        "cuda-older",
        "cuda-missing",
        "lb-type",
        "wired-id",
        "wired-cpu-id",
        "cpu-model",
        "cpu-stage-on-gpu",
        "cpu-memory-missing",
        "no-api-key",
    ],
)
def test_cross_stage_mistakes_are_refused_naming_the_key(replacements, expected):
    found = problems(edited(*replacements))
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        ([("workers_max = 3", "workers_mx = 3")], "stages.preprocess.workers_mx: unknown key"),
        ([("workers_max = 3", 'workers_max = "three"')], "stages.preprocess.workers_max:"),
        (
            [('cpu_instances = ["cpu3c-2-4"]', 'cpu_instances = ["cpu9x-2-4"]')],
            "stages.preprocess.cpu_instances: unknown CPU instance id cpu9x-2-4",
        ),
        (
            [('gpu_pools = ["AMPERE_16", "ADA_24"]', 'gpu_pools = ["NVIDIA GeForce RTX 4090"]')],
            "stages.inference.gpu_pools: unknown GPU pool NVIDIA GeForce RTX 4090: give pool ids",
        ),
        (
            [("container_disk_gb = 10", "container_disk_gb = 11")],
            "stages.postprocess: container_disk_gb: 11 GB is more than Runpod allows on cpu3c-1-2",
        ),
        (
            [
                (
                    'scaler = { type = "REQUEST_COUNT", value = 4 }',
                    'scaler = { type = "QUEUE_DELAY", value = 4 }',
                )
            ],
            "stages.orchestrator: scaler.type: a load balancer scales by REQUEST_COUNT",
        ),
        (
            [
                (
                    'cpu_instances = ["cpu3c-1-2"]',
                    'cpu_instances = ["cpu3c-1-2"]\ngpu_pools = ["ADA_24"]',
                )
            ],
            "stages.postprocess: give exactly one of cpu_instances and gpu_pools",
        ),
        (
            [
                (
                    "workers_min = 0  ",
                    "workers_min = 4  ",
                )
            ],
            "stages.preprocess: workers_min (4) is more than workers_max (3)",
        ),
        (
            [
                (
                    'LOG_LEVEL = "info"',
                    'LOG_LEVEL = "info"\nHF_TOKEN = "hf_abcdefghijklmnopqrstuvwx"',
                )
            ],
            "stages.orchestrator.env: HF_TOKEN: never write a secret in this file",
        ),
        (
            [
                (
                    'RUNPOD_API_KEY = "{{ RUNPOD_SECRET_runpod_api_key }}"',
                    'RUNPOD_API_KEY = "rpa_0123456789ABCDEFGHIJ"',
                )
            ],
            "stages.orchestrator.env: RUNPOD_API_KEY: never write a secret in this file",
        ),
        ([('name = "sentiment"', 'name = "Sentiment Pipeline"')], "deployment.name: use 2 to 41"),
        (
            [
                ('[stages.postprocess.env]\nRUNPOD_MIN_MEMORY_GB = "1"', ""),
                ("[stages.postprocess]", "[stages.postprocessing]"),
            ],
            # A stage the layout needs and the file lacks: tests/unit/test_deploy_layouts.py.
            "stages.postprocessing: unknown key",
        ),
        ([('tag = "1.0.0"', "tag = ")], "not valid TOML"),
    ],
    ids=[
        "typo",
        "type",
        "cpu-id",
        "gpu-type-name",
        "disk",
        "lb-scaler",
        "both-computes",
        "workers",
        "hf-token",
        "api-key",
        "name",
        "missing-stage",
        "toml",
    ],
)
def test_bad_values_are_refused_naming_the_key(replacements, expected):
    found = problems(edited(*replacements))
    assert any(p.startswith(expected) for p in found), found


def test_a_secret_value_never_appears_in_the_error():
    secret = "rpa_0123456789ABCDEFGHIJ"
    text = edited(
        ('RUNPOD_API_KEY = "{{ RUNPOD_SECRET_runpod_api_key }}"', f'RUNPOD_API_KEY = "{secret}"')
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, DEPLOY_FILE)
    assert secret not in str(info.value)


def test_numbers_in_env_are_kept_as_text_and_images_can_be_full_references():
    text = edited(
        ('RUNPOD_MIN_MEMORY_GB = "1"', "RUNPOD_MIN_MEMORY_GB = 1"),
        ('image = "inference"', 'image = "docker.io/me/inference"\ntag = "2.0.0"'),
        ('image = "postprocess"', 'image = "docker.io/me/post@sha256:abc"'),
    )
    config = parse_config(text, DEPLOY_FILE)
    assert config.stages.preprocess.env["RUNPOD_MIN_MEMORY_GB"] == "1"
    assert config.image(DeployStage.INFERENCE) == "docker.io/me/inference:2.0.0"
    assert config.image(DeployStage.POSTPROCESS) == "docker.io/me/post@sha256:abc"
    warnings = check_deployment(config).warnings
    assert any("different tags" in w for w in warnings)


def test_a_cpu_inference_image_of_another_tag_is_warned_about():
    text = edited(('image = "inference-cpu"', 'image = "inference-cpu"\ntag = "0.9.0"'))
    warnings = check_deployment(parse_config(text, DEPLOY_FILE)).warnings
    assert other_warnings(warnings) == [
        "preprocess (1.0.0) and inference_cpu (0.9.0) images have different tags: make sure "
        "both were built with the same MODEL_ID and MODEL_REVISION"
    ]


def test_deploy_imports_contracts_only_and_no_ml_library():
    imported = imported_packages(REPO_ROOT / "deploy")
    project = {
        "contracts",
        "preprocess_worker",
        "inference_worker",
        "postprocess_worker",
        "orchestrator",
        "scripts",
        "tests",
    }
    assert imported & project == {"contracts"}
    loaded = loaded_modules("deploy.cli")
    assert not loaded & {"torch", "transformers", "tokenizers", "runpod", "orchestrator"}
