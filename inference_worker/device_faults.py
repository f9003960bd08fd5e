"""What a failed forward pass means for the worker: a model error for its jobs, and sometimes
a device that can never run again.

Out of memory fails the pass's jobs; the worker recovers (torch_backend.py empties the allocator's
cache) and serves on. A sticky CUDA error (an illegal memory access, a device-side assert, a
launch failure, ...) leaves the CUDA context unusable until the process ends: every later
pass would fail. The guard then fails every later pass at once, and the handler asks Runpod
to replace the worker (`refresh_worker`). This module imports no torch: it reads the error
messages torch raises, so it is tested without a GPU.
"""

import logging
from collections.abc import Callable
from typing import TypeVar

from worker_runtime.errors import ModelError

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

OUT_OF_MEMORY_MARKERS = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED")

# cudaGetErrorString of the errors the CUDA runtime documents as sticky ("the process must be
# terminated and relaunched"), their enum names, and the libraries' reports of such a fault.
POISON_MARKERS = (
    "an illegal memory access was encountered",
    "cudaErrorIllegalAddress",
    "device-side assert triggered",
    "cudaErrorAssert",
    "unspecified launch failure",
    "cudaErrorLaunchFailure",
    "misaligned address",
    "cudaErrorMisalignedAddress",
    "an illegal instruction was encountered",
    "cudaErrorIllegalInstruction",
    "hardware stack error",
    "invalid program counter",
    "operation not supported on global/shared address space",
    "the launch timed out and was terminated",
    "uncorrectable ECC error encountered",
    "CUDA error: unknown error",
    "CUBLAS_STATUS_EXECUTION_FAILED",
    "CUDNN_STATUS_EXECUTION_FAILED",
)


class DeviceFault(ModelError):
    """The device is unusable until the worker process is replaced."""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or any(
        marker in str(exc) for marker in OUT_OF_MEMORY_MARKERS
    )


def poisons_device(exc: BaseException) -> bool:
    message = str(exc)
    return not is_out_of_memory(exc) and any(marker in message for marker in POISON_MARKERS)


class DeviceGuard:
    """Wraps the steps that touch the device. The model's failures become ModelError (the
    job's caller did nothing wrong); the first poisoning failure is remembered, and from then
    on every step fails fast with DeviceFault."""

    def __init__(self) -> None:
        self.poisoned_by: str | None = None

    @property
    def poisoned(self) -> bool:
        return self.poisoned_by is not None

    def guard(self, step: Callable[[A], R]) -> Callable[[A], R]:
        def guarded(arg: A) -> R:
            if self.poisoned_by is not None:
                raise DeviceFault(
                    f"the GPU failed earlier ({self.poisoned_by}); this worker is being replaced"
                )
            try:
                return step(arg)
            except RuntimeError as exc:  # torch's errors; anything else is a bug of ours
                raise self._model_error(exc) from exc

        return guarded

    def _model_error(self, exc: RuntimeError) -> ModelError:
        if is_out_of_memory(exc):
            return ModelError(
                "the device ran out of memory in a forward pass "
                "(lower MAX_BATCH_TOKENS or MAX_BATCH_SIZE)"
            )
        if poisons_device(exc):
            if self.poisoned_by is None:
                self.poisoned_by = _first_line(exc)
                log.error(
                    "the GPU is in a failed state (%s): asking Runpod to replace this worker",
                    self.poisoned_by,
                )
            return DeviceFault(
                f"the GPU failed ({_first_line(exc)}); this worker is being replaced"
            )
        return ModelError(f"the forward pass failed ({_first_line(exc)})")
