"""DTYPE: the precision the model runs in, checked against the device before the model loads.

- float16: GPUs only. Half the memory of float32 and tensor-core speed; the default on CUDA.
  On a CPU it is refused: matrix work in float16 is emulated there unless the processor has
  AVX512-FP16 or AMX-FP16, and its narrow range can overflow to inf and NaN. bfloat16 saves
  the same memory with float32's range.
- bfloat16: GPUs from Ampere on (compute capability 8.0), and CPUs.
- float32: everywhere; the default on a CPU.
"""

import torch

# Defined with the settings, so the handler catches it without importing torch.
from inference_worker.settings import PrecisionError

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_device(name: str | None) -> torch.device:
    """DEVICE, or the GPU when there is one."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The dtype to load the model in: `name` (a DTYPE value) or this device's default."""
    if name is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise PrecisionError(f"{name!r} is not one of {', '.join(DTYPES)}")
    if name == "float16" and device.type == "cpu":
        raise PrecisionError("float16 runs only on a GPU; on cpu use bfloat16 or float32")
    if (
        name == "bfloat16"
        and device.type == "cuda"
        and not torch.cuda.is_bf16_supported(including_emulation=False)
    ):
        raise PrecisionError(
            f"bfloat16 needs a GPU of compute capability 8.0 or newer "
            f"({torch.cuda.get_device_name(device)} is not); use float16 or float32"
        )
    return DTYPES[name]
