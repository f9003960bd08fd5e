"""The shapes the pipeline is deployed in, from one codebase (docs/architecture.md#layouts).

- split: three stage endpoints, one job each per request (the default).
- inline: the orchestrator runs preprocess and postprocess in its own process; only the
  inference stage is an endpoint.
- single: one endpoint runs all three stages in one job.
"""

from enum import StrEnum


class Layout(StrEnum):
    SPLIT = "split"
    INLINE = "inline"
    SINGLE = "single"


# CPU_INFERENCE_ENDPOINT's value that runs the CPU inference in the orchestrator's own process
# (LAYOUT=inline, ONNX Runtime) instead of on an endpoint.
IN_PROCESS = "inline"
