"""The inference stage's jobs on one endpoint and, when that endpoint fails, the fallback:
each request fails with it or, where the routing policy allows, runs again on the other
endpoint (routing.py says when)."""

import time
from collections.abc import Awaitable, Callable

from contracts import InferenceTarget, Stage, StageTiming
from orchestrator.errors import StageError, copied_error
from orchestrator.outcome import RequestOutcome
from orchestrator.routing import InferenceRouter
from orchestrator.shared_jobs import combined_timing
from orchestrator.stage_client import StageClient

# The requests' inference jobs on one endpoint, appending each job's timing.
InferJobs = Callable[[StageClient, list[RequestOutcome], list[StageTiming]], Awaitable[None]]


async def infer_with_fallback(
    router: InferenceRouter,
    infer_jobs: InferJobs,
    target: InferenceTarget,
    members: list[RequestOutcome],
    started: float,
    all_timings: list[StageTiming],
) -> None:
    """The members' inference on `target`. When it fails, each member fails with it or, where
    the routing policy allows, runs again on the other endpoint."""
    timings: list[StageTiming] = []
    try:
        await infer_jobs(router.endpoint(target), members, timings)
    except StageError as exc:
        router.failed(target, exc)
        again = []
        for outcome in members:
            assert outcome.route is not None
            fallback = router.policy.fallback(outcome.route, exc)
            if fallback is None:
                outcome.error = copied_error(exc)
            else:
                outcome.route = fallback
                again.append(outcome)
        if again:
            # Every fallback of one endpoint's failure goes to the other endpoint.
            other = again[0].route.endpoint  # type: ignore[union-attr]
            await infer_with_fallback(router, infer_jobs, other, again, started, all_timings)
        return
    all_timings.extend(timings)
    # The request's own inference timing: its endpoint's jobs, since the stage began
    # (a fallback's time includes the failed attempt's).
    own = combined_timing(timings, (time.perf_counter() - started) * 1000, len(members))
    texts = sum(len(o.texts) for o in members)
    for outcome in members:
        outcome.timings[Stage.INFERENCE] = own
        outcome.shares[Stage.INFERENCE] = len(outcome.texts) / texts
