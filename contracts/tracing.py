"""How one request is followed through all four logs: its id travels in each job's input.

The orchestrator adds `request_ids` (several when requests share a job) to every job it
sends; each worker takes it out before the stage sees its input and logs it beside Runpod's
job id, in one line per job that never holds the caller's text.
"""

from typing import Any

REQUEST_IDS = "request_ids"


def with_request_ids(job_input: dict[str, Any], request_ids: list[str]) -> dict[str, Any]:
    return {**job_input, REQUEST_IDS: request_ids} if request_ids else job_input


def pop_request_ids(job_input: Any) -> tuple[Any, list[str]]:
    """The job's own input, and the request ids it carried (none when sent by hand)."""
    if not isinstance(job_input, dict) or REQUEST_IDS not in job_input:
        return job_input, []
    rest = {k: v for k, v in job_input.items() if k != REQUEST_IDS}
    ids = job_input[REQUEST_IDS]
    if not isinstance(ids, list):
        return rest, []
    # Only ids of the orchestrator's own form: nothing a caller sent can forge a log line.
    return rest, [i for i in ids if isinstance(i, str) and i.isprintable() and len(i) <= 128][:64]


def job_log_line(stage: str, job_id: Any, request_ids: list[str], ms: float, outcome: str) -> str:
    ids = ",".join(request_ids) or "-"
    return f"{stage} job {job_id} request_ids={ids} {outcome} in {ms:.1f} ms"
