"""How long each stage of a request took, as the orchestrator measured and Runpod reported."""

from pydantic import BaseModel, Field


class StageTiming(BaseModel):
    # Measured by the orchestrator: request sent to final answer, polling included.
    round_trip_ms: float
    # Reported by the hosted endpoint (absent from Runpod's local API server): time in the
    # queue, cold start included, and the handler's execution time. The largest over the
    # stage's jobs when a batch runs several.
    queue_ms: float | None = None
    execution_ms: float | None = None
    jobs: int = 1
    # Requests whose texts shared this stage's job(s): concurrent requests are coalesced.
    shared_by: int = 1
    # Run in the process that answered (LAYOUT=inline: the orchestrator's; LAYOUT=single: the
    # all-stage worker's), not as a job on an endpoint of its own: no hop, nothing billed apart.
    in_process: bool = Field(default=False, exclude_if=lambda v: not v)


class Timings(BaseModel):
    # How long the request waited for others to share its jobs (COALESCE_WAIT_MS at most).
    coalesce_wait_ms: float = 0.0
    preprocess: StageTiming | None = None
    inference: StageTiming | None = None
    postprocess: StageTiming | None = None
    # LAYOUT=single: the one job on the all-stage endpoint, the request's only hop.
    single: StageTiming | None = Field(default=None, exclude_if=lambda v: v is None)
    # LAYOUT=single with SINGLE_CPU_ENDPOINT: the job on the all-stage CPU endpoint instead.
    single_cpu: StageTiming | None = Field(default=None, exclude_if=lambda v: v is None)
    total_ms: float
