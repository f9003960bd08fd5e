"""Inference worker configuration, read from the environment."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.model_source import DEFAULT_MODEL_ID

DTypeName = Literal["float16", "bfloat16", "float32"]
# torch: transformers on a GPU or CPU (the inference image). onnx: ONNX Runtime on CPU, from the
# model.onnx exported at image build (the inference-cpu image, which holds no torch).
BackendName = Literal["torch", "onnx"]
GPU_BATCH_SIZE = 32
# `make benchmark` on 2 CPU cores: the model's own length-sorted forward was fastest in
# batches of 4, and the pipeline at concurrency 16 served 1.8x as many texts as with 32.
CPU_BATCH_SIZE = 4


class PrecisionError(ValueError):
    """DTYPE cannot run on this device; the message says what can (see precision.py)."""


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", protected_namespaces=())

    model_id: str = DEFAULT_MODEL_ID
    model_revision: str | None = None
    backend: BackendName = "torch"
    # Windows in one forward pass, across all the jobs that share it; unset means 32 on a GPU
    # and 4 on a CPU, where wider passes measured slower (README, "Measured").
    max_batch_size: int | None = Field(default=None, ge=1, le=1024)
    # Padded tokens in one forward pass (rows x its longest row): what the device pays for.
    # A window longer than this still runs, alone.
    max_batch_tokens: int = Field(default=16_384, ge=1, le=1_048_576)
    # How long the first job of a batch waits for others to share its forward pass.
    max_batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    # Jobs one worker takes at once (Runpod's concurrency_modifier).
    max_concurrency: int = Field(default=8, ge=1, le=256)
    # Overlap when this worker tokenizes cleaned_text itself (the pattern's input).
    window_overlap_tokens: int = Field(default=128, ge=0)
    # "cuda", "cpu", ...; unset means the GPU when there is one.
    device: str | None = None
    # The model's weights and activations; unset means float16 on a GPU, float32 on a CPU.
    dtype: DTypeName | None = None

    def batch_size_on(self, device_type: str) -> int:
        """MAX_BATCH_SIZE, or the default for the device the model runs on."""
        if self.max_batch_size is not None:
            return self.max_batch_size
        # Anything but a CPU is an accelerator, as wide passes suit (the benchmark's zero-cost
        # stand-in, which has no device, included).
        return CPU_BATCH_SIZE if device_type == "cpu" else GPU_BATCH_SIZE
