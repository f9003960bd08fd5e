"""Inference worker configuration, read from the environment."""

from typing import Literal

from pydantic import Field

from worker_runtime.settings import ModelWorkerSettings
from worker_runtime.startup import ConfigurationError

DTypeName = Literal["float16", "bfloat16", "float32"]
BackendName = Literal["torch", "onnx"]
GPU_BATCH_SIZE = 32
# On a CPU, wider passes measured slower (`make benchmark`, both the forward alone and the
# pipeline under concurrent load); on a GPU, wider passes keep the device busy.
CPU_BATCH_SIZE = 4
# On a CPU every padded token is computed: a pass of mixed lengths runs as narrower passes of
# similar lengths (batcher.py). On a GPU a wide pass costs little more per row, and more
# passes would cost launches, so the pass stays whole unless MAX_PADDING_SHARE says otherwise.
CPU_PADDING_SHARE = 0.2


class PrecisionError(ConfigurationError):
    """DTYPE cannot run on this device; the message says what can (see precision.py)."""

    variable = "DTYPE"


class InferenceSettings(ModelWorkerSettings):
    backend: BackendName = Field(
        default="torch",
        description=(
            "torch: transformers on a GPU or CPU (the inference image). onnx: ONNX Runtime on "
            "CPU, from the model.onnx exported at image build (the inference-cpu image, which "
            "holds no torch)."
        ),
    )
    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            "Windows in one forward pass, across all the jobs that share it; unset means "
            f"{GPU_BATCH_SIZE} on a GPU and {CPU_BATCH_SIZE} on a CPU, where wider passes "
            "measured slower."
        ),
    )
    max_batch_tokens: int = Field(
        default=16_384,
        ge=1,
        le=1_048_576,
        description=(
            "Padded tokens in one forward pass (windows x the pass's longest window): what "
            "the device pays for. A window longer than this still runs, alone. Lower it if "
            "the GPU runs out of memory."
        ),
    )
    max_batch_wait_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description=(
            "How long the first job of a batch, finding the device idle, waits for others to "
            "share its forward pass."
        ),
    )
    max_padding_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "The share of a forward pass's tokens that may be padding: a pass over windows of "
            "mixed lengths runs as several narrower passes of similar lengths instead. Unset "
            f"means {CPU_PADDING_SHARE} on a CPU, where padding costs as much as text, and no "
            "cut on a GPU; 1 never cuts."
        ),
    )
    device: str | None = Field(
        default=None, description='"cuda", "cpu", ...; unset means the GPU when there is one.'
    )
    dtype: DTypeName | None = Field(
        default=None,
        description=(
            "The model's weights and activations; unset means float16 on a GPU, float32 on a "
            "CPU. A DTYPE the device cannot run stops the worker at start."
        ),
    )

    def batch_size_on(self, device_type: str) -> int:
        """MAX_BATCH_SIZE, or the default for the device the model runs on."""
        if self.max_batch_size is not None:
            return self.max_batch_size
        # Anything but a CPU is an accelerator, as wide passes suit (the benchmark's zero-cost
        # stand-in, which has no device, included).
        return CPU_BATCH_SIZE if device_type == "cpu" else GPU_BATCH_SIZE

    def padding_share_on(self, device_type: str) -> float | None:
        """MAX_PADDING_SHARE, or the default for the device the model runs on."""
        if self.max_padding_share is not None:
            return self.max_padding_share
        return CPU_PADDING_SHARE if device_type == "cpu" else None
