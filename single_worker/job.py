"""The all-stage job: `{"text": ...}` or `{"texts": [...]}` in, what /classify or
/classify-batch answers out (less the request id and the cost, which the orchestrator adds).

The three stages are the workers' own, run in this process (orchestrator.in_process) by the
orchestrator's own pipeline, so this job answers what the split layout answers: the same
results, the same errors (the error answer itself, as JSON in the job's `error`).
"""

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import (
    ClassifiableText,
    InferenceTarget,
    Limits,
    Route,
    RouteChoice,
    RouteReason,
    Timings,
)
from orchestrator.errors import StageError
from orchestrator.pipeline import Pipeline
from orchestrator.single_layout import SingleJobOutput, error_wire


class SingleJobInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ClassifiableText | None = None
    texts: list[ClassifiableText] | None = Field(
        default=None, min_length=1, max_length=Limits.MAX_BATCH_TEXTS_CAP
    )
    # `smart` answers with the route it took: this worker has no CPU inference endpoint.
    route: Literal["gpu", "smart"] = "gpu"

    @model_validator(mode="after")
    def _one_of_text_and_texts(self) -> "SingleJobInput":
        if (self.text is None) == (self.texts is None):
            raise ValueError('send either "text" (one text) or "texts" (a list of texts)')
        return self


async def classify_job(
    pipeline: Pipeline, job_input: Any, endpoint: InferenceTarget = InferenceTarget.GPU
) -> dict[str, Any]:
    """One job's answer, or `{"error": <the error answer as JSON>}`. `endpoint` is the
    inference endpoint this worker is: the CPU twin (BACKEND=onnx) runs every job on its CPU,
    whatever the job's route, and its answers' route says so."""
    job = SingleJobInput.model_validate(job_input)
    texts = [job.text] if job.text is not None else job.texts or []
    started = time.perf_counter()
    try:
        outcomes, done = await pipeline.classify_many([texts], routes=[RouteChoice(job.route)])
        [outcome] = outcomes
        if outcome.error is not None:
            outcome.error.timings = {**done, **outcome.error.timings}
            raise outcome.error
    except StageError as exc:
        return {"error": error_wire(exc, None)}
    total_ms = round((time.perf_counter() - started) * 1000, 3)
    assert outcome.route is not None  # every request that got past inference has one
    route = outcome.route
    if endpoint is InferenceTarget.CPU:
        route = Route(
            endpoint=endpoint,
            reason=RouteReason.REQUESTED,
            detail="this all-stage worker runs its inference on a CPU (BACKEND=onnx)",
            tokens=route.tokens,
        )
    answer = SingleJobOutput(
        results=outcome.results,
        timings=Timings(**{**done, **outcome.timings}, total_ms=total_ms),
        route=route,
    ).model_dump(mode="json")
    if job.text is None:
        return answer
    # One text: its result's fields at the top level, as /classify answers.
    [result] = answer.pop("results")
    if job.route == "gpu":
        answer.pop("route")
    return {**result, **answer}
