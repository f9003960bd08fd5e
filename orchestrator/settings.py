"""Orchestrator configuration, read from the environment."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import Limits, Stage

RUNPOD_API_BASE = "https://api.runpod.ai/v2"


def endpoint_base_url(endpoint: str) -> str:
    """A Runpod endpoint id means the hosted API; a full URL is used as it is (local mode)."""
    endpoint = endpoint.strip().rstrip("/")
    if endpoint.startswith(("http://", "https://")):
        return endpoint
    return f"{RUNPOD_API_BASE}/{endpoint}"


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    runpod_api_key: SecretStr | None = None
    # Defaults are the ports `make run` gives the workers' local API servers.
    preprocess_endpoint: str = "http://localhost:8001"
    inference_endpoint: str = "http://localhost:8002"
    postprocess_endpoint: str = "http://localhost:8003"
    preprocess_timeout_s: float = Field(default=30.0, gt=0)
    inference_timeout_s: float = Field(default=120.0, gt=0)
    postprocess_timeout_s: float = Field(default=30.0, gt=0)
    # How often a job that /runsync did not finish is polled.
    poll_interval_s: float = Field(default=0.5, gt=0)
    max_batch_texts: int = Field(
        default=Limits.DEFAULT_MAX_BATCH_TEXTS, ge=1, le=Limits.MAX_BATCH_TEXTS_CAP
    )
    # Larger bodies are refused before they are read: Runpod's own /runsync limit.
    max_request_bytes: int = Field(default=20_000_000, ge=1_000)
    # One connection pool for all three endpoints.
    max_connections: int = Field(default=100, ge=1)
    host: str = "0.0.0.0"
    port: int = 8888
    log_level: str = "info"

    def base_url(self, stage: Stage) -> str:
        return endpoint_base_url(getattr(self, f"{stage.value}_endpoint"))

    def timeout_s(self, stage: Stage) -> float:
        return getattr(self, f"{stage.value}_timeout_s")
