"""What the deployment file asks of Runpod: the GraphQL inputs of each template and endpoint.

Field names and shapes are those Runpod's own deploy tooling sends (runpod/flash,
runpodctl, runpod-python): `saveTemplate` takes a serverless template (`isServerless`,
`volumeInGb: 0`, `env` as key/value pairs); `saveEndpoint` takes a CPU endpoint by
`instanceIds` and a GPU one by `gpuIds` (pool ids, comma-separated) plus `gpuCount`,
`allowedCudaVersions` and `minCudaVersion`; a CPU endpoint carries none of the GPU fields.
`saveEndpoint` replaces an endpoint whole, so an update always sends every field.
"""

from typing import Any

from deploy.catalog import cuda_version_key
from deploy.config import DeployConfig, DeployStage
from deploy.layouts import orchestrator_wiring, stage_defaults, stage_image

ENDPOINT_TYPES = {"queue": "QB", "load_balancer": "LB"}
# What only a GPU endpoint carries.
GPU_FIELDS = ("gpuIds", "gpuCount", "allowedCudaVersions", "minCudaVersion")


def ownership_marker(config: DeployConfig) -> str:
    """Written into each template's readme: what `destroy` may remove is what carries it."""
    return f"Managed by `python -m deploy` (deployment '{config.deployment.name}')."


def template_env(
    config: DeployConfig, stage: DeployStage, endpoint_ids: dict[DeployStage, str]
) -> dict:
    settings = config.stage(stage)
    env = stage_defaults(stage) | settings.env
    if stage is DeployStage.ORCHESTRATOR:
        env |= orchestrator_wiring(config, endpoint_ids)
    if settings.http_port is not None:
        # A load balancer's server listens on PORT and is health-checked on PORT_HEALTH.
        env.setdefault("PORT", str(settings.http_port))
        env.setdefault("PORT_HEALTH", str(settings.http_port))
    return env


def template_input(
    config: DeployConfig, stage: DeployStage, endpoint_ids: dict[DeployStage, str]
) -> dict[str, Any]:
    settings = config.stage(stage)
    return {
        "name": config.template_name(stage),
        "imageName": stage_image(config, stage),
        "dockerArgs": "",
        "containerDiskInGb": settings.container_disk_gb,
        "volumeInGb": 0,
        "ports": f"{settings.http_port}/http" if settings.http_port else "",
        "env": [
            {"key": k, "value": v} for k, v in template_env(config, stage, endpoint_ids).items()
        ],
        "isServerless": True,
        "containerRegistryAuthId": config.registry_auth_id(stage),
        "readme": ownership_marker(config),
    }


def endpoint_input(config: DeployConfig, stage: DeployStage, template_id: str) -> dict[str, Any]:
    settings = config.stage(stage)
    payload: dict[str, Any] = {
        "name": config.endpoint_name(stage),
        "templateId": template_id,
        "type": ENDPOINT_TYPES[settings.type],
        "workersMin": settings.workers_min,
        "workersMax": settings.workers_max,
        "idleTimeout": settings.idle_timeout_s,
        "scalerType": settings.scaler.type,
        "scalerValue": settings.scaler.value,
        "executionTimeoutMs": settings.execution_timeout_s * 1000,
        "flashBootType": "FLASHBOOT" if settings.flashboot else "OFF",
        "networkVolumeId": settings.network_volume_id,
        "locations": ",".join(settings.data_centers),
    }
    if settings.cpu_instances:
        payload["instanceIds"] = list(settings.cpu_instances)
    else:
        assert settings.gpu_pools
        versions = sorted(settings.allowed_cuda_versions, key=cuda_version_key)
        payload |= {
            "gpuIds": ",".join(settings.gpu_pools),
            "gpuCount": settings.gpu_count or 1,
            "allowedCudaVersions": ",".join(versions),
            "minCudaVersion": versions[0],
        }
    return payload
