"""What one worker-second of each stage costs: the one price table every component reads.

Runpod bills a serverless worker per second for as long as it is up (its cold start, every
job, and the idle timeout after its last job), so a price here is USD per second of one
worker, not per job. The defaults are the figures of the pattern this project grew from.
Set your own: Runpod's prices change, and differ by instance type and GPU pool.
"""

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_CPU_USD_PER_S: Final = 0.0002
DEFAULT_GPU_USD_PER_S: Final = 0.0015


class StagePrices(BaseModel):
    """USD per second of one worker, per stage; `gpu_only` is the one GPU endpoint that runs all
    three stages in one job (defaults to the inference price: the same GPU)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preprocess: float = Field(DEFAULT_CPU_USD_PER_S, ge=0)
    inference: float = Field(DEFAULT_GPU_USD_PER_S, ge=0)
    postprocess: float = Field(DEFAULT_CPU_USD_PER_S, ge=0)
    # One field per Endpoint, named by its value (contracts/endpoints.py), and gpu_only.
    inference_cpu: float = Field(DEFAULT_CPU_USD_PER_S, ge=0)
    gpu_only: float = Field(DEFAULT_GPU_USD_PER_S, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _gpu_only_follows_inference(cls, data: Any) -> Any:
        # A changed GPU price changes the GPU-only layout's too, unless it is set on its own.
        if isinstance(data, dict) and "gpu_only" not in data and "inference" in data:
            return {**data, "gpu_only": data["inference"]}
        return data

    def for_stage(self, stage: str) -> float:
        """The price of an Endpoint (its value names its field) or of "gpu_only"."""
        if stage not in type(self).model_fields:
            raise ValueError(f"no price for {stage!r}: one of {', '.join(type(self).model_fields)}")
        return getattr(self, stage)
