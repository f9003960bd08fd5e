"""How one request is followed through all four logs: its id travels in each job's input.

The orchestrator adds `request_ids` (several when requests share a job) to every job it
sends; each worker takes it out before the stage sees its input (worker_runtime.request_ids)
and logs it beside Runpod's job id.
"""

from typing import Any

REQUEST_IDS = "request_ids"
# Only ids of the orchestrator's own form are logged: nothing a caller sent can forge a line.
MAX_REQUEST_ID_CHARS = 128
MAX_REQUEST_IDS = 64


def with_request_ids(job_input: dict[str, Any], request_ids: list[str]) -> dict[str, Any]:
    return {**job_input, REQUEST_IDS: request_ids} if request_ids else job_input
