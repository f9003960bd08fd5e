"""One enum names the pipeline's endpoints; every spelling elsewhere follows from it."""

from contracts import Endpoint, InferenceTarget, StagePrices
from contracts.cost import priced_as
from cost_model.endpoints import ENDPOINTS, ORCHESTRATOR, SINGLE, SINGLE_CPU
from deploy.checks import WIRED_KEYS
from deploy.config import DeployStage
from orchestrator.settings import OrchestratorSettings


def test_every_spelling_of_an_endpoint_follows_from_the_enum() -> None:
    assert [e.value for e in Endpoint] == [
        "preprocess",
        "inference",
        "inference_cpu",
        "postprocess",
    ]
    assert [e.variable for e in Endpoint] == [
        "PREPROCESS_ENDPOINT",
        "INFERENCE_ENDPOINT",
        "CPU_INFERENCE_ENDPOINT",
        "POSTPROCESS_ENDPOINT",
    ]
    assert Endpoint.INFERENCE_CPU.resource_name == "inference-cpu"
    assert Endpoint.INFERENCE_CPU.stage == "inference"
    fields = OrchestratorSettings.model_fields
    for endpoint in Endpoint:
        for suffix in ("endpoint", "timeout_s", "usd_per_s"):
            assert f"{endpoint.setting}_{suffix}" in fields
    assert set(StagePrices.model_fields) == {*Endpoint, "gpu_only"}
    assert (ORCHESTRATOR, *Endpoint, SINGLE, SINGLE_CPU) == ENDPOINTS
    assert {DeployStage(e.value) for e in Endpoint} <= set(DeployStage)
    assert {DeployStage(e.value): e.variable for e in Endpoint}.items() <= WIRED_KEYS.items()
    assert priced_as("inference", InferenceTarget.CPU) is Endpoint.INFERENCE_CPU


def test_each_endpoints_settings_are_read_by_the_enum() -> None:
    settings = OrchestratorSettings(
        cpu_inference_endpoint="http://localhost:9",
        cpu_inference_timeout_s=7,
        cpu_inference_usd_per_s=0.5,
    )
    cpu = settings.endpoint(Endpoint.INFERENCE_CPU)
    assert (cpu.base_url, cpu.timeout_s, cpu.usd_per_s, cpu.hosted) == (
        "http://localhost:9",
        7,
        0.5,
        False,
    )
    assert settings.prices().inference_cpu == 0.5
    assert (
        not OrchestratorSettings(cpu_inference_endpoint="").endpoint(Endpoint.INFERENCE_CPU).is_set
    )
