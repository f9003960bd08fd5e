"""Checks that span the deployment: what each stage is, and what stages must agree on.

These are the mistakes a pipeline of several endpoints makes in the console: a CPU stage on
a GPU pool, a small CPU instance without RUNPOD_MIN_MEMORY_GB, preprocess and an inference
stage on different models. Each is refused here, before any call to Runpod.
"""

from dataclasses import dataclass

from contracts import Endpoint
from deploy.catalog import (
    CPU_DATA_CENTERS,
    CPU_INSTANCES,
    MEMORY_CHECK_SAFE_GB,
    SDK_DEFAULT_MIN_MEMORY_GB,
    cuda_version_key,
)
from deploy.config import DeployConfig, DeployStage, StageSettings, is_secret_reference


@dataclass(frozen=True)
class Role:
    type: str
    compute: str  # "cpu" or "gpu"
    runs_runpod_sdk: bool  # a queue worker: the SDK's fitness checks run at its start
    # What a CPU worker's process holds at most, for the memory check's advice.
    memory_use: str = ""


# What each image is: the workers are Runpod queue handlers, the orchestrator an HTTP server;
# only the inference stage uses a GPU. The CPU inference worker's use was measured with the
# DistilBERT-base-sized model: about 0.5 GB loaded, 0.8 GB with 8 jobs of long texts at once.
ROLES: dict[DeployStage, Role] = {
    DeployStage.PREPROCESS: Role("queue", "cpu", True, "about 100 MB"),
    DeployStage.INFERENCE: Role("queue", "gpu", True),
    DeployStage.INFERENCE_CPU: Role("queue", "cpu", True, "under 1 GB"),
    DeployStage.POSTPROCESS: Role("queue", "cpu", True, "about 100 MB"),
    DeployStage.ORCHESTRATOR: Role("load_balancer", "cpu", False),
}
MODEL_KEYS = ("MODEL_ID", "MODEL_REVISION")
# The stages that read token ids made by the preprocess stage's tokenizer.
MODEL_STAGES = (DeployStage.INFERENCE, DeployStage.INFERENCE_CPU)
# The orchestrator's settings that name the endpoints it calls: set by `deploy apply` from the
# endpoints it made (an empty CPU_INFERENCE_ENDPOINT without [stages.inference_cpu]); never
# written in the file.
WIRED_KEYS = {DeployStage(endpoint.value): endpoint.variable for endpoint in Endpoint}


@dataclass
class Findings:
    errors: list[str]
    warnings: list[str]


def check_deployment(config: DeployConfig) -> Findings:
    found = Findings([], [])
    if "OWNER" in config.deployment.registry or "<" in config.deployment.registry:
        found.errors.append(
            "deployment.registry: set it to where your images are; the images workflow "
            "publishes them to ghcr.io/<github owner>/<repository> (lower case)"
        )
    for stage in config.listed_stages:
        settings, role = config.stage(stage), ROLES[stage]
        _check_role(stage, settings, role, found)
        # (A GPU stage on CPU instances is refused by its role already.)
        if role.runs_runpod_sdk and role.compute == "cpu" and settings.cpu_instances:
            _check_memory(stage, settings, role, found)
        if settings.gpu_pools:
            _check_cuda(stage, settings, found)
        if role.compute == "cpu":
            _check_cpu_data_centers(stage, settings, found)
    _check_model(config, found)
    _check_orchestrator(config.stage(DeployStage.ORCHESTRATOR), found)
    _check_images(config, found)
    return found


def _check_role(stage: DeployStage, settings: StageSettings, role: Role, found: Findings) -> None:
    key = f"stages.{stage.value}"
    if settings.type != role.type:
        found.errors.append(
            f"{key}.type: the {stage.value} image is a "
            f"{'Runpod queue handler' if role.type == 'queue' else 'plain HTTP server'}; "
            f'use type = "{role.type}"'
        )
    if role.compute == "cpu" and settings.gpu_pools:
        found.errors.append(
            f"{key}.gpu_pools: the {stage.value} stage never uses a GPU; give cpu_instances"
        )
    if role.compute == "gpu" and settings.cpu_instances:
        found.errors.append(
            f"{key}.cpu_instances: the {stage.value} image is the GPU build (torch, CUDA); give "
            "gpu_pools, and run inference on CPU with [stages.inference_cpu] "
            '(image "inference-cpu")'
        )


def _check_memory(stage: DeployStage, settings: StageSettings, role: Role, found: Findings) -> None:
    assert settings.cpu_instances is not None
    smallest = min(CPU_INSTANCES[i].memory_gb for i in settings.cpu_instances)
    key = f"stages.{stage.value}.env.RUNPOD_MIN_MEMORY_GB"
    value = settings.env.get("RUNPOD_MIN_MEMORY_GB")
    if value is None:
        if smallest < MEMORY_CHECK_SAFE_GB:
            found.errors.append(
                f"{key}: an instance with {smallest} GB fails the Runpod SDK's start-up check "
                f"(at least {SDK_DEFAULT_MIN_MEMORY_GB} GiB available by default) and its "
                f'worker exits; set RUNPOD_MIN_MEMORY_GB = "1" (the worker uses {role.memory_use})'
            )
        return
    try:
        needed = float(value)
    except ValueError:
        found.errors.append(f"{key}: {value!r} is not a number of GB")
        return
    if needed >= smallest:
        found.errors.append(
            f"{key}: {value} GB cannot be available on an instance with {smallest} GB; use 1"
        )


def _check_cpu_data_centers(stage: DeployStage, settings: StageSettings, found: Findings) -> None:
    """Runpod runs CPU serverless workers in some data centers only: elsewhere the endpoint
    would never get one."""
    offered = ", ".join(sorted(CPU_DATA_CENTERS))
    key = f"stages.{stage.value}"
    elsewhere = [dc for dc in settings.data_centers if dc not in CPU_DATA_CENTERS]
    if elsewhere:
        found.errors.append(
            f"{key}.data_centers: Runpod offers CPU serverless only in {offered}, not in "
            f"{', '.join(elsewhere)}"
        )
    if settings.network_volume_id:
        found.warnings.append(
            f"{key}.network_volume_id: a network volume ties the endpoint to its data center, "
            f"and Runpod offers CPU serverless only in {offered}: make sure the volume is there"
        )


def _check_cuda(stage: DeployStage, settings: StageSettings, found: Findings) -> None:
    key = f"stages.{stage.value}"
    if not settings.allowed_cuda_versions:
        found.errors.append(
            f"{key}.allowed_cuda_versions: list the CUDA versions the image runs on "
            '(torch\'s CUDA 13.0 build: ["13.0"] and newer)'
        )
    minimum = settings.env.get("RUNPOD_MIN_CUDA_VERSION")
    if minimum is None:
        found.errors.append(
            f'{key}.env.RUNPOD_MIN_CUDA_VERSION: set it ("13.0") so a worker on an older '
            "driver fails its start-up check instead of its first job"
        )
        return
    try:
        floor = cuda_version_key(minimum)
    except ValueError:
        found.errors.append(f"{key}.env.RUNPOD_MIN_CUDA_VERSION: {minimum!r} is not a version")
        return
    older = [v for v in settings.allowed_cuda_versions if cuda_version_key(v) < floor]
    if older:
        found.errors.append(
            f"{key}.allowed_cuda_versions: {', '.join(older)} is older than "
            f"RUNPOD_MIN_CUDA_VERSION ({minimum}): workers placed there would never start"
        )


def _check_model(config: DeployConfig, found: Findings) -> None:
    preprocess = config.stage(DeployStage.PREPROCESS).env
    for stage in MODEL_STAGES:
        if not config.lists(stage):
            continue
        inference = config.stage(stage).env
        for key in MODEL_KEYS:
            left, right = preprocess.get(key), inference.get(key)
            if left != right:
                found.errors.append(
                    f"stages.{stage.value}.env.{key}: {right or '(the image default)'} differs "
                    f"from stages.preprocess.env.{key} ({left or 'the image default'}); the "
                    f"{stage.value} worker refuses token ids made by another model's tokenizer"
                )


def _check_orchestrator(settings: StageSettings, found: Findings) -> None:
    key = "stages.orchestrator.env"
    for stage, wired in WIRED_KEYS.items():
        if wired in settings.env:
            optional = stage is DeployStage.INFERENCE_CPU
            found.errors.append(
                f"{key}.{wired}: leave it out; `deploy apply` sets it to the endpoint it made"
                + (" (empty when the file has no [stages.inference_cpu])" if optional else "")
            )
    api_key = settings.env.get("RUNPOD_API_KEY")
    if api_key is None or not is_secret_reference(api_key):
        found.errors.append(
            f"{key}.RUNPOD_API_KEY: the orchestrator calls the other endpoints with it; store "
            'a key as a Runpod secret and write "{{ RUNPOD_SECRET_<name> }}"'
        )
    for port_key in ("PORT", "PORT_HEALTH"):
        value = settings.env.get(port_key)
        if value is not None and value != str(settings.http_port):
            found.errors.append(
                f"{key}.{port_key}: {value} is not http_port ({settings.http_port}); leave it "
                "out and apply sets it"
            )


def _check_images(config: DeployConfig, found: Findings) -> None:
    tags = {stage: config.image(stage).rsplit(":", 1)[-1] for stage in config.listed_stages}
    if "latest" in tags.values():
        found.warnings.append(
            "a `latest` image tag moves: workers started at different times may run different "
            "images, and `plan` cannot see a new push. Pin a release (1.2.3) or sha-<commit>."
        )
    preprocess = tags[DeployStage.PREPROCESS]
    for stage in MODEL_STAGES:
        if stage in tags and tags[stage] != preprocess:
            found.warnings.append(
                f"preprocess ({preprocess}) and {stage.value} ({tags[stage]}) images have "
                "different tags: make sure both were built with the same MODEL_ID and "
                "MODEL_REVISION"
            )
