"""A job's request ids (contracts.tracing): taken out of its input before the stage sees it."""

from typing import Any

from contracts.tracing import MAX_REQUEST_ID_CHARS, MAX_REQUEST_IDS, REQUEST_IDS


def pop_request_ids(job_input: Any) -> tuple[Any, list[str]]:
    """The job's own input, and the request ids it carried (none when sent by hand)."""
    if not isinstance(job_input, dict) or REQUEST_IDS not in job_input:
        return job_input, []
    rest = {k: v for k, v in job_input.items() if k != REQUEST_IDS}
    ids = job_input[REQUEST_IDS]
    if not isinstance(ids, list):
        return rest, []
    # Only ids of the orchestrator's own form: nothing a caller sent can forge a log line.
    return rest, [
        i for i in ids if isinstance(i, str) and i.isprintable() and len(i) <= MAX_REQUEST_ID_CHARS
    ][:MAX_REQUEST_IDS]
