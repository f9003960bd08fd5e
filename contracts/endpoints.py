"""The pipeline's Runpod endpoints: one name each, from which every spelling follows.

Settings, prices, metrics, deploy and the cost model name an endpoint by its value
("inference_cpu"); the orchestrator's settings and environment by `setting` and `variable`
(cpu_inference_endpoint, CPU_INFERENCE_ENDPOINT); images, compose services and Runpod
resources by `resource_name` ("inference-cpu").
"""

from enum import StrEnum

from contracts.errors import Stage


class Endpoint(StrEnum):
    PREPROCESS = "preprocess"
    INFERENCE = "inference"
    # The inference worker on ONNX Runtime, where /classify-smart sends small inputs.
    INFERENCE_CPU = "inference_cpu"
    POSTPROCESS = "postprocess"

    @property
    def stage(self) -> Stage:
        """The pipeline stage its jobs run."""
        return Stage.INFERENCE if self is Endpoint.INFERENCE_CPU else Stage(self.value)

    @property
    def setting(self) -> str:
        """The stem of the orchestrator's settings for it: `{setting}_endpoint`, ..."""
        return "cpu_inference" if self is Endpoint.INFERENCE_CPU else self.value

    @property
    def variable(self) -> str:
        """The orchestrator's environment variable naming it."""
        return f"{self.setting.upper()}_ENDPOINT"

    @property
    def resource_name(self) -> str:
        """Its image, compose service and Runpod endpoint name: with hyphens."""
        return self.value.replace("_", "-")


# The three stages' endpoints, in the pipeline's order.
STAGE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint.PREPROCESS,
    Endpoint.INFERENCE,
    Endpoint.POSTPROCESS,
)
