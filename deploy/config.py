"""The deployment file (deploy.toml): parsed with tomllib, validated with pydantic.

Every problem is reported with the key it is about (`stages.inference.env.MODEL_ID: ...`),
all at once, before anything talks to Runpod. Checks that span stages (the model the
tokenizing stages use, which stage runs on what) are in deploy/checks.py.
"""

import re
import tomllib
from collections.abc import Collection
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts import Endpoint, describe_validation_error
from deploy.catalog import CPU_INSTANCES, GPU_POOLS

# How Runpod injects a secret into an endpoint's environment: the value stays in Runpod.
SECRET_REFERENCE = re.compile(r"\{\{\s*RUNPOD_SECRET_[A-Za-z0-9_.-]+\s*\}\}")
# Keys whose value is a credential: it may only be a secret reference.
_SENSITIVE_KEY = re.compile(r"(^|_)(API_KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
# Values that are credentials whatever their key: Runpod API keys and Hugging Face tokens.
_CREDENTIAL_VALUE = re.compile(r"^(rpa_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{20,})$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CUDA_VERSION = re.compile(r"^\d+\.\d+$")


class DeployStage(StrEnum):
    """A stage of the deployment: one Runpod endpoint, and its table in the file."""

    # The pipeline's endpoints, named as contracts' Endpoint names them, and the orchestrator.
    PREPROCESS = Endpoint.PREPROCESS.value
    INFERENCE = Endpoint.INFERENCE.value
    INFERENCE_CPU = Endpoint.INFERENCE_CPU.value
    POSTPROCESS = Endpoint.POSTPROCESS.value
    # The single layout's all-stage handler (image `single`) on a GPU, and the same image on
    # a CPU instance on ONNX Runtime for its smart variant: the cost model's names for them.
    SINGLE = "single"
    SINGLE_CPU = "single_cpu"
    ORCHESTRATOR = "orchestrator"

    @property
    def resource_name(self) -> str:
        """How its endpoint and template are named: like the images, with hyphens."""
        return self.value.replace("_", "-")


# The order stages are created in: the orchestrator last, once the others have ids.
STAGES: tuple[DeployStage, ...] = tuple(DeployStage)


class Layout(StrEnum):
    """How the pipeline is spread over endpoints (`make cost --recommend` says which pays)."""

    # Three stage endpoints in sequence, called by the orchestrator.
    SPLIT = "split"
    # The orchestrator runs preprocess and postprocess itself; only inference is an endpoint.
    INLINE = "inline"
    # One GPU endpoint runs all three stages in one job; the orchestrator is optional.
    SINGLE = "single"


class ConfigError(Exception):
    """The deployment file cannot be used; `problems` names each key that is wrong."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} is not a valid deployment file:\n{listed}")


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key.upper()))


def is_secret_reference(value: str) -> bool:
    return bool(SECRET_REFERENCE.fullmatch(value.strip()))


def _known(values: list[str] | None, known: Collection[str], what: str, hint: str):
    if values is not None:
        if not values:
            raise ValueError(f"list at least one {what}")
        if unknown := [v for v in values if v not in known]:
            raise ValueError(f"unknown {what} {', '.join(unknown)}: {hint}")
    return values


class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentSettings(_Strict):
    name: str
    registry: str
    tag: str
    registry_auth_id: str = ""
    layout: Layout = Layout.SPLIT
    # Short texts' inference on a CPU (ONNX Runtime). Unset: on when the file has
    # [stages.inference_cpu], which is what such a file meant before `smart` existed.
    smart: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,40}", value):
            raise ValueError(
                "use 2 to 41 lower-case letters, digits and hyphens: endpoints are named "
                "'<name>-<stage>'"
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value or ":" in value.rsplit("/", 1)[-1]:
            raise ValueError("a registry path without a tag, e.g. ghcr.io/<owner>/<repo>")
        return value


class Scaler(_Strict):
    type: Literal["QUEUE_DELAY", "REQUEST_COUNT"]
    value: int = Field(ge=1)


class StageSettings(_Strict):
    # The image's name under the registry ("preprocess"), or a full reference.
    image: str
    tag: str | None = None
    type: Literal["queue", "load_balancer"]
    # Exactly one of the two: CPU instance ids, or GPU pools.
    cpu_instances: list[str] | None = None
    gpu_pools: list[str] | None = None
    gpu_count: int | None = Field(default=None, ge=1)
    allowed_cuda_versions: list[str] = []
    workers_min: int = Field(ge=0)
    workers_max: int = Field(ge=1)
    idle_timeout_s: int = Field(ge=1, le=3600)
    # Runpod's executionTimeout: 5 s to 7 days.
    execution_timeout_s: int = Field(ge=5, le=7 * 24 * 3600)
    scaler: Scaler
    flashboot: bool = True
    container_disk_gb: int = Field(ge=1)
    network_volume_id: str = ""
    data_centers: list[str] = []
    registry_auth_id: str | None = None
    http_port: int | None = Field(default=None, ge=1, le=65535)
    env: dict[str, str] = {}

    @field_validator("cpu_instances")
    @classmethod
    def _known_instances(cls, value: list[str] | None) -> list[str] | None:
        return _known(
            value, CPU_INSTANCES, "CPU instance id", f"Runpod's are {', '.join(CPU_INSTANCES)}"
        )

    @field_validator("gpu_pools")
    @classmethod
    def _known_pools(cls, value: list[str] | None) -> list[str] | None:
        pools = ", ".join(sorted(GPU_POOLS))
        return _known(value, GPU_POOLS, "GPU pool", f"give pool ids ({pools}), not GPU model names")

    @field_validator("allowed_cuda_versions")
    @classmethod
    def _cuda_versions(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _CUDA_VERSION.fullmatch(v)]
        if bad:
            raise ValueError(f'CUDA versions read like "13.0", not {", ".join(bad)}')
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_values_are_text(cls, value: object) -> object:
        # TOML numbers are fine as values ("RUNPOD_MIN_MEMORY_GB = 1"); Runpod keeps text.
        if isinstance(value, dict):
            converted = {}
            for key, item in value.items():
                if isinstance(item, bool):
                    raise ValueError(f'{key}: write the value as a string, e.g. "true"')
                converted[key] = str(item) if isinstance(item, int | float) else item
            return converted
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _ENV_KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
            if _CREDENTIAL_VALUE.match(item.strip()) or (
                is_sensitive_key(key) and item.strip() and not is_secret_reference(item)
            ):
                raise ValueError(
                    f"{key}: never write a secret in this file; store it as a Runpod secret "
                    '(console → Secrets) and write "{{ RUNPOD_SECRET_<name> }}"'
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "StageSettings":
        if (self.cpu_instances is None) == (self.gpu_pools is None):
            raise ValueError("give exactly one of cpu_instances and gpu_pools")
        if self.cpu_instances is not None:
            gpu_only = [
                key
                for key, value in (
                    ("gpu_count", self.gpu_count),
                    ("allowed_cuda_versions", self.allowed_cuda_versions),
                )
                if value
            ]
            if gpu_only:
                raise ValueError(f"{', '.join(gpu_only)}: GPU settings on a CPU stage")
            disk_limit = min(CPU_INSTANCES[i].max_container_disk_gb for i in self.cpu_instances)
            if self.container_disk_gb > disk_limit:
                raise ValueError(
                    f"container_disk_gb: {self.container_disk_gb} GB is more than Runpod allows "
                    f"on {', '.join(self.cpu_instances)} ({disk_limit} GB)"
                )
        if self.workers_min > self.workers_max:
            raise ValueError(
                f"workers_min ({self.workers_min}) is more than workers_max ({self.workers_max})"
            )
        if self.type == "load_balancer":
            if self.scaler.type != "REQUEST_COUNT":
                raise ValueError("scaler.type: a load balancer scales by REQUEST_COUNT")
            if self.http_port is None:
                raise ValueError("http_port: a load balancer needs the port its server listens on")
        elif self.http_port is not None:
            raise ValueError("http_port: only a load balancer exposes an HTTP port")
        return self


class Stages(_Strict):
    # Each layout needs some of these (deploy/layouts.py); checks name a missing one.
    preprocess: StageSettings | None = None
    inference: StageSettings | None = None
    # Without it, the orchestrator has no CPU inference endpoint: /classify-smart uses the GPU.
    inference_cpu: StageSettings | None = None
    postprocess: StageSettings | None = None
    single: StageSettings | None = None
    single_cpu: StageSettings | None = None
    orchestrator: StageSettings | None = None


class DeployConfig(_Strict):
    deployment: DeploymentSettings
    stages: Stages

    @property
    def smart(self) -> bool:
        if self.deployment.smart is not None:
            return self.deployment.smart
        return self.stages.inference_cpu is not None

    @property
    def listed_stages(self) -> tuple[DeployStage, ...]:
        """The stages the file has, in the order they are created."""
        return tuple(s for s in STAGES if self.lists(s))

    def lists(self, stage: DeployStage) -> bool:
        return getattr(self.stages, stage.value) is not None

    def stage(self, stage: DeployStage) -> StageSettings:
        settings = getattr(self.stages, stage.value)
        if settings is None:
            raise KeyError(f"the file has no [stages.{stage.value}]")
        return settings

    def endpoint_name(self, stage: DeployStage) -> str:
        return f"{self.deployment.name}-{stage.resource_name}"

    def template_name(self, stage: DeployStage) -> str:
        return f"{self.endpoint_name(stage)}-template"

    def image(self, stage: DeployStage, name: str | None = None) -> str:
        """The full image reference: `<registry>/<image>:<tag>`, or the image as written;
        `name` stands in for the stage's image (deploy.layouts.stage_image)."""
        settings = self.stage(stage)
        image = name or settings.image
        tag = settings.tag or self.deployment.tag
        if "/" not in image:
            return f"{self.deployment.registry}/{image}:{tag}"
        last = image.rsplit("/", 1)[-1]
        return image if (":" in last or "@" in last) else f"{image}:{tag}"

    def registry_auth_id(self, stage: DeployStage) -> str:
        own = self.stage(stage).registry_auth_id
        return self.deployment.registry_auth_id if own is None else own


def parse_config(text: str, path: Path) -> DeployConfig:
    """Parse and validate the file's text; raises ConfigError naming every bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    try:
        return DeployConfig.model_validate(data)
    except ValidationError as exc:
        _, details = describe_validation_error(exc)
        problems = [
            f"{d.field}: unknown key"
            if d.message == "Extra inputs are not permitted"
            # The message of a check on one stage names its own key.
            else f"{d.field}: {d.message}"
            for d in details
        ]
        raise ConfigError(path, problems) from None


def load_config(path: Path) -> DeployConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read it ({exc.strerror})"]) from None
    return parse_config(text, path)
