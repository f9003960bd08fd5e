"""Checks that span the deployment: what each stage is, and what stages must agree on.

These are the mistakes a pipeline of several endpoints makes in the console: a CPU stage on
a GPU pool, a small CPU instance without RUNPOD_MIN_MEMORY_GB, preprocess and an inference
stage on different models. Each is refused here, before any call to Runpod.
"""

from dataclasses import dataclass

from deploy.catalog import (
    CPU_DATA_CENTERS,
    CPU_INSTANCES,
    MEMORY_CHECK_SAFE_GB,
    SDK_DEFAULT_MIN_MEMORY_GB,
    cuda_version_key,
)
from deploy.config import DeployConfig, DeployStage, Layout, StageSettings, is_secret_reference
from deploy.layouts import (
    LAYOUT_KEY,
    MODEL_KEYS,
    SINGLE_CPU_ENV,
    WIRED_KEYS,
    deployed_stages,
    missing_stages,
    tokenizing_model,
    unused_stages,
)


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
    DeployStage.SINGLE: Role("queue", "gpu", True),
    DeployStage.SINGLE_CPU: Role("queue", "cpu", True, "under 1 GB"),
    DeployStage.ORCHESTRATOR: Role("load_balancer", "cpu", False),
}
# The stages that load a model: all must name the same one. In split, the inference stages
# read token ids made by the preprocess stage's tokenizer; in single, both all-stage endpoints
# must answer alike. The first deployed one is the reference.
MODEL_STAGES = (
    DeployStage.PREPROCESS,
    DeployStage.INFERENCE,
    DeployStage.INFERENCE_CPU,
    DeployStage.SINGLE,
    DeployStage.SINGLE_CPU,
)


@dataclass
class Findings:
    errors: list[str]
    warnings: list[str]


def check_deployment(config: DeployConfig) -> Findings:
    found = Findings([], [])
    if not _check_layout(config, found):
        return found
    if "OWNER" in config.deployment.registry or "<" in config.deployment.registry:
        found.errors.append(
            "deployment.registry: set it to where your images are; the images workflow "
            "publishes them to ghcr.io/<github owner>/<repository> (lower case)"
        )
    deployed = deployed_stages(config)
    for stage in deployed:
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
    if DeployStage.ORCHESTRATOR in deployed:
        _check_orchestrator(config.stage(DeployStage.ORCHESTRATOR), found)
    if DeployStage.SINGLE_CPU in deployed:
        _check_single_cpu(config.stage(DeployStage.SINGLE_CPU), found)
    _check_images(config, found)
    return found


def _check_layout(config: DeployConfig, found: Findings) -> bool:
    """False when a stage the layout needs is missing (the other checks would be moot)."""
    layout = config.deployment.layout
    if (
        layout is Layout.SINGLE
        and config.smart
        and DeployStage.ORCHESTRATOR not in deployed_stages(config)
    ):
        found.warnings.append(
            'layout "single" with smart and no [stages.orchestrator]: nothing sends short '
            "texts to single_cpu but your own callers (its job takes what single's does)"
        )
    for stage in missing_stages(config):
        smart_only = stage in (DeployStage.INFERENCE_CPU, DeployStage.SINGLE_CPU)
        found.errors.append(
            f'stages.{stage.value}: layout "{layout}" needs it'
            + (" for smart (set smart = false to go without)" if smart_only else "")
        )
    # A warning, not an error: the file may keep every layout's tables so that switching is
    # the one `layout` line; the warning says what apply does with them.
    if unused := unused_stages(config):
        tables = ", ".join(f"[stages.{s.value}]" for s in unused)
        smart = "" if config.smart else " without smart"
        found.warnings.append(
            f'layout "{layout}"{smart} does not use {tables}: not deployed, and apply deletes '
            "what it made of them"
        )
    return not missing_stages(config)


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
        cpu_twin = (
            '[stages.single_cpu] (image "single-cpu")'
            if stage is DeployStage.SINGLE
            else '[stages.inference_cpu] (image "inference-cpu")'
        )
        found.errors.append(
            f"{key}.cpu_instances: the {stage.value} image is the GPU build (torch, CUDA); give "
            f"gpu_pools, and run inference on CPU with {cpu_twin}"
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
    deployed = deployed_stages(config)
    stages = [s for s in MODEL_STAGES if s in deployed]
    layout = config.deployment.layout
    tokenizes_for = tokenizing_model(config)
    if tokenizes_for is not None and DeployStage.ORCHESTRATOR in deployed:
        model = config.stage(tokenizes_for).env
        for key in MODEL_KEYS:
            if key not in model:
                found.errors.append(
                    f"stages.{tokenizes_for.value}.env.{key}: set it; in the {layout} layout"
                    f"{' with smart' if layout is Layout.SINGLE else ''} the orchestrator "
                    f"tokenizes with the {tokenizes_for.value} stage's model, and needs its name"
                )
        stages.append(DeployStage.ORCHESTRATOR)
    if not stages:
        return
    first, *others = stages
    reference = config.stage(first).env
    why = (
        "worker refuses token ids made by another model's tokenizer"
        if first is DeployStage.PREPROCESS and config.deployment.layout is Layout.SPLIT
        else "answers would depend on the route a request took"
    )
    for stage in others:
        env = config.stage(stage).env
        for key in MODEL_KEYS:
            left, right = reference.get(key), env.get(key)
            if stage is DeployStage.ORCHESTRATOR and right is None:
                continue  # apply sets it from the stage it tokenizes for
            if left != right:
                found.errors.append(
                    f"stages.{stage.value}.env.{key}: {right or '(the image default)'} differs "
                    f"from stages.{first.value}.env.{key} ({left or 'the image default'}); the "
                    f"{stage.value} {why}"
                )


def _check_orchestrator(settings: StageSettings, found: Findings) -> None:
    """Its LAYOUT and the endpoints it calls (WIRED_KEYS) are set by `deploy apply`."""
    key = "stages.orchestrator.env"
    if LAYOUT_KEY in settings.env:
        found.errors.append(
            f"{key}.{LAYOUT_KEY}: leave it out; `deploy apply` sets it to deployment.layout"
        )
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


def _check_single_cpu(settings: StageSettings, found: Findings) -> None:
    for name, value in SINGLE_CPU_ENV.items():
        if settings.env.get(name, value) != value:
            found.errors.append(
                f"stages.single_cpu.env.{name}: the all-stage handler runs on a CPU instance "
                f'only with {name} = "{value}"; leave it out and apply sets it'
            )


def _check_images(config: DeployConfig, found: Findings) -> None:
    deployed = deployed_stages(config)
    tags = {stage: config.image(stage).rsplit(":", 1)[-1] for stage in deployed}
    if "latest" in tags.values():
        found.warnings.append(
            "a `latest` image tag moves: workers started at different times may run different "
            "images, and `plan` cannot see a new push. Pin a release (1.2.3) or sha-<commit>."
        )
    first, *others = [s for s in MODEL_STAGES if s in deployed]
    for stage in others:
        if tags[stage] != tags[first]:
            found.warnings.append(
                f"{first.value} ({tags[first]}) and {stage.value} ({tags[stage]}) images have "
                "different tags: make sure both were built with the same MODEL_ID and "
                "MODEL_REVISION"
            )
