"""A hosted job's time to live (its policy's `ttl`), and what its running out looks like.

Runpod counts a job's TTL from submission, its time in the queue and a worker's cold start
included, and deletes the job in whatever state it is when the TTL runs out; `/status` then
answers 404. A TTL as short as a stage's timeout expires the first job after an idle period
while its worker is still starting, so the TTL is its own setting, minutes long: a stage that
gives up earlier cancels its job itself.
"""

# Minutes: a cold start of a large image fits in it.
DEFAULT_JOB_TTL_S = 600.0


def job_gone_message(job_id: str, ttl_s: float) -> str:
    """What a 404 from /status means for a job the endpoint had accepted."""
    return (
        f"job {job_id} is gone (HTTP 404 from /status): it expired, its TTL of {ttl_s:g} s "
        "(JOB_TTL_S) counting from submission, queue and cold start included, or it was "
        "removed (cancelled, or the queue purged)"
    )
