"""LAYOUT=single: one endpoint runs all three stages in one job (single_worker/).

The orchestrator fronts it with one hop per request: each request's texts are one job,
`{"texts": [...], "route": ...}`, answered as /classify-batch answers (results, the stages'
timings inside the job, the route), so one request's refused text fails that request alone.
A job that fails carries the error answer itself (ErrorResponse, as JSON in the job's
`error`): read back here into the same StageError, so the caller gets the same status,
shape and message as in the split layout. The answer's timings name the one hop (`single`)
and the stages that ran inside it (`in_process`).
"""

import asyncio
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from contracts import (
    ClassificationResult,
    ErrorResponse,
    ErrorType,
    Route,
    RouteChoice,
    Stage,
    StageTiming,
    Timings,
)
from orchestrator.errors import (
    StageError,
    StageFailedError,
    StageOverloadedError,
    StageRejectedInputError,
    StageTimeoutError,
    StageUnavailableError,
)
from orchestrator.metrics import Metrics
from orchestrator.outcome import RequestOutcome
from orchestrator.pipeline import Pipeline
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import OrchestratorSettings, endpoint_base_url, is_hosted
from orchestrator.stage_client import StageClient
from orchestrator.stage_output import parse_output

_ERROR_CLASSES: dict[ErrorType, type[StageError]] = {
    ErrorType.INVALID_INPUT: StageRejectedInputError,
    ErrorType.STAGE_TIMEOUT: StageTimeoutError,
    ErrorType.STAGE_UNAVAILABLE: StageUnavailableError,
    ErrorType.OVERLOADED: StageOverloadedError,
}


class SingleJobOutput(BaseModel):
    """What the all-stage job answers for `texts` (as /classify-batch, less what the
    orchestrator adds: request_id, cost)."""

    results: list[ClassificationResult]
    timings: Timings
    route: Route


def error_wire(exc: StageError, request_id: str | None) -> str:
    """A failed pipeline as the all-stage job's `error`: the answer the orchestrator gives."""
    return ErrorResponse(
        error=exc.message,
        error_type=exc.error_type,
        stage=exc.stage,
        request_id=request_id,
        details=exc.details,
        timings=Timings(**exc.timings, total_ms=0.0),
    ).model_dump_json()


def error_from_wire(error: Any) -> StageError | None:
    """The StageError an all-stage job's `error` carries, or None when it carries none (the
    SDK's report of an exception, a worker of another kind)."""
    try:
        answer = ErrorResponse.model_validate_json(error) if isinstance(error, str) else None
    except ValidationError:
        return None
    if answer is None or answer.stage not in (Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS):
        return None
    cls = _ERROR_CLASSES.get(answer.error_type)
    if cls is StageRejectedInputError:
        exc: StageError = StageRejectedInputError(answer.stage, answer.error, answer.details)
    elif cls is not None:
        exc = cls(answer.stage, answer.error)
    else:
        exc = StageFailedError(answer.stage, answer.error, answer.error_type)
    # The worker's message is already the whole message ("inference stage: ...").
    exc.message = answer.error
    exc.args = (answer.error,)
    if answer.timings is not None:
        exc.timings = _stage_timings(answer.timings)
    return exc


def _stage_timings(timings: Timings) -> dict[Stage, StageTiming]:
    return {
        stage: timing
        for stage in (Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS)
        if (timing := getattr(timings, stage.value)) is not None
    }


class SingleEndpoint(StageEndpoint):
    """The all-stage endpoint: a StageEndpoint whose failed jobs carry the pipeline's error."""

    def _output(self, body: dict[str, Any]) -> Any:
        if body.get("status") == "FAILED" and (exc := error_from_wire(body.get("error"))):
            raise exc
        return super()._output(body)


def single_endpoint(
    settings: OrchestratorSettings, client: httpx.AsyncClient, api_key: str | None
) -> SingleEndpoint:
    value = settings.single_endpoint
    return SingleEndpoint(
        Stage.SINGLE,
        endpoint_base_url(value, settings.runpod_api_base),
        client,
        settings.single_timeout_s,
        settings.poll_interval_s,
        api_key,
        hosted=is_hosted(value, settings.runpod_api_base),
        variable="SINGLE_ENDPOINT",
    )


class SinglePipeline(Pipeline):
    """The pipeline over one endpoint that runs all three stages: one job per request."""

    def __init__(self, endpoint: StageClient, metrics: Metrics | None = None):
        # No CPU inference endpoint: the all-stage worker runs its own inference.
        router = InferenceRouter(endpoint, None, RoutingPolicy(0, 0, has_cpu=False))
        super().__init__({Stage.SINGLE: endpoint}, metrics, router)

    async def classify_many(
        self,
        requests: list[list[str]],
        request_ids: list[str] | None = None,
        routes: list[RouteChoice] | None = None,
    ) -> tuple[list[RequestOutcome], dict[Stage, StageTiming]]:
        """One job per request, all at once: a request fails alone."""
        outcomes = self.outcomes(requests, request_ids, routes)
        await asyncio.gather(*(self._classify(outcome) for outcome in outcomes))
        return outcomes, {}

    async def _classify(self, outcome: RequestOutcome) -> None:
        # The worker has no CPU inference endpoint: `cpu` is refused before (503), `smart`
        # runs on its GPU and says so.
        route = "smart" if outcome.route_choice is RouteChoice.SMART else "gpu"
        job = {"texts": outcome.texts, "route": route}
        rids = [outcome.request_id] if outcome.request_id else []
        try:
            raw, timing = await self.run_stage(Stage.SINGLE, job, rids)
            output = parse_output(Stage.SINGLE, SingleJobOutput, raw)
        except StageError as exc:
            outcome.error = exc
            return
        outcome.results = output.results
        outcome.route = output.route
        outcome.timings = {**_stage_timings(output.timings), Stage.SINGLE: timing}
        self.metrics.routed(output.route)
