"""Orchestrator configuration, read from the environment."""

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import (
    DEFAULT_CPU_USD_PER_S,
    DEFAULT_GPU_USD_PER_S,
    DEFAULT_SMART_MAX_CPU_TOKENS,
    Limits,
    Stage,
    StagePrices,
)
from orchestrator.job_ttl import DEFAULT_JOB_TTL_S

RUNPOD_API_BASE = "https://api.runpod.ai/v2"


def endpoint_base_url(endpoint: str, api_base: str = RUNPOD_API_BASE) -> str:
    """A Runpod endpoint id means the hosted API; a full URL is used as it is (local mode)."""
    endpoint = endpoint.strip().rstrip("/")
    if endpoint.startswith(("http://", "https://")):
        return endpoint
    return f"{api_base.rstrip('/')}/{endpoint}"


def is_hosted(endpoint: str, api_base: str = RUNPOD_API_BASE) -> bool:
    """An endpoint id, or a URL of Runpod's hosted API: it bills, has /cancel and /health."""
    return endpoint_base_url(endpoint, api_base).startswith(api_base.rstrip("/"))


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # Where endpoint ids point: Runpod's API (another address only for a stand-in of it).
    runpod_api_base: str = RUNPOD_API_BASE
    # Defaults are the ports `make run` gives the workers' local API servers.
    preprocess_endpoint: str = "http://localhost:8001"
    inference_endpoint: str = "http://localhost:8002"
    postprocess_endpoint: str = "http://localhost:8003"
    # The CPU inference endpoint (the inference worker on ONNX Runtime), which /classify-smart
    # sends small inputs to. Empty: none, and /classify-smart uses the GPU endpoint alone.
    cpu_inference_endpoint: str = "http://localhost:8004"
    # After the endpoints, so its check can see them.
    runpod_api_key: SecretStr | None = Field(default=None, validate_default=True)
    preprocess_timeout_s: float = Field(default=30.0, gt=0)
    inference_timeout_s: float = Field(default=120.0, gt=0)
    postprocess_timeout_s: float = Field(default=30.0, gt=0)
    cpu_inference_timeout_s: float = Field(default=30.0, gt=0)
    # /classify-smart: inputs of at most this many tokens (all windows of all texts) go to the
    # CPU inference endpoint. The default is measured: README "Which inference endpoint".
    smart_max_cpu_tokens: int = Field(default=DEFAULT_SMART_MAX_CPU_TOKENS, ge=0)
    # When the GPU endpoint cannot serve (unreachable, or a backlog with no ready worker),
    # inputs up to this many tokens go to the CPU endpoint instead of waiting; longer ones
    # still go to the GPU.
    smart_fallback_max_tokens: int = Field(default=2048, ge=0)
    # A hosted GPU endpoint whose /health shows jobs queued and no ready worker for this long
    # is treated as backlogged (0: as soon as it is seen).
    smart_gpu_max_queue_s: float = Field(default=10.0, ge=0)
    # How long one reading of the GPU endpoint's health is reused.
    smart_gpu_health_interval_s: float = Field(default=5.0, gt=0)
    # A GPU job that timed out is not retried on the CPU endpoint unless this is true: it may
    # be a long input that would be slow there too.
    smart_retry_timeout_on_cpu: bool = False
    # Not the stage timeout: see orchestrator/job_ttl.py.
    job_ttl_s: float = Field(
        default=DEFAULT_JOB_TTL_S,
        ge=10,
        description="How long Runpod keeps a submitted job (its policy.ttl), queue and cold "
        "start included; never below the stage's timeout.",
    )
    # How often a job that /runsync did not finish is polled.
    poll_interval_s: float = Field(default=0.5, gt=0)
    max_batch_texts: int = Field(
        default=Limits.DEFAULT_MAX_BATCH_TEXTS, ge=1, le=Limits.MAX_BATCH_TEXTS_CAP
    )
    # Larger bodies are refused before they are read: Runpod's own /runsync limit.
    max_request_bytes: int = Field(default=20_000_000, ge=1_000)
    # One connection pool for all three endpoints.
    max_connections: int = Field(default=100, ge=1)
    # Pipeline requests served at once; more are answered 429 with Retry-After instead of
    # queueing without bound (each holds a connection per stage it is in).
    max_in_flight: int = Field(default=64, ge=1)
    # Concurrent /classify and /classify-batch requests share one job per stage: a request
    # that finds others in flight waits this long for more to join it (0: never share).
    coalesce_wait_ms: float = Field(default=2.0, ge=0, le=1_000)
    # Texts in one shared run at most; a batch larger than this runs alone.
    coalesce_max_texts: int = Field(
        default=Limits.DEFAULT_MAX_BATCH_TEXTS, ge=1, le=Limits.MAX_ITEMS_PER_JOB
    )
    # USD per second of one worker of each stage, for the `cost` in every answer and the cost
    # metrics. The defaults are the pattern's figures: set your own, Runpod's prices change.
    preprocess_usd_per_s: float = Field(default=DEFAULT_CPU_USD_PER_S, ge=0)
    inference_usd_per_s: float = Field(default=DEFAULT_GPU_USD_PER_S, ge=0)
    postprocess_usd_per_s: float = Field(default=DEFAULT_CPU_USD_PER_S, ge=0)
    cpu_inference_usd_per_s: float = Field(default=DEFAULT_CPU_USD_PER_S, ge=0)
    host: str = "0.0.0.0"
    port: int = 8888
    log_level: str = "info"

    @field_validator("runpod_api_key")
    @classmethod
    def _key_for_hosted_endpoints(
        cls, key: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        hosted = [
            f"{name.upper()}_ENDPOINT"
            for name in ("preprocess", "inference", "postprocess", "cpu_inference")
            if str(info.data.get(f"{name}_endpoint", "")).strip()
            and is_hosted(
                str(info.data[f"{name}_endpoint"]),
                str(info.data.get("runpod_api_base", RUNPOD_API_BASE)),
            )
        ]
        if hosted and not (key and key.get_secret_value().strip()):
            verb = "names a hosted endpoint" if len(hosted) == 1 else "name hosted endpoints"
            raise ValueError(
                f"required, because {' and '.join(hosted)} {verb} (set it to your Runpod API key)"
            )
        return key

    def base_url(self, stage: Stage) -> str:
        return endpoint_base_url(getattr(self, f"{stage.value}_endpoint"), self.runpod_api_base)

    def prices(self) -> StagePrices:
        return StagePrices(
            preprocess=self.preprocess_usd_per_s,
            inference=self.inference_usd_per_s,
            postprocess=self.postprocess_usd_per_s,
            inference_cpu=self.cpu_inference_usd_per_s,
        )

    def hosted(self, stage: Stage) -> bool:
        return is_hosted(getattr(self, f"{stage.value}_endpoint"), self.runpod_api_base)

    def timeout_s(self, stage: Stage) -> float:
        return getattr(self, f"{stage.value}_timeout_s")

    @property
    def cpu_inference_base_url(self) -> str | None:
        """The CPU inference endpoint's base URL, or None when there is none."""
        if not self.cpu_inference_endpoint.strip():
            return None
        return endpoint_base_url(self.cpu_inference_endpoint, self.runpod_api_base)

    @property
    def cpu_inference_hosted(self) -> bool:
        return bool(self.cpu_inference_endpoint.strip()) and is_hosted(
            self.cpu_inference_endpoint, self.runpod_api_base
        )
