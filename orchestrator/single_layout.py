"""LAYOUT=single: one endpoint runs all three stages in one job (single_worker/).

The orchestrator fronts it with one hop per request: each request's texts are one job,
`{"texts": [...], "route": ...}`, answered as /classify-batch answers (results, the stages'
timings inside the job, the route), so one request's refused text fails that request alone.
A job that fails carries the error answer itself (ErrorResponse, as JSON in the job's
`error`): read back here into the same StageError, so the caller gets the same status,
shape and message as in the split layout. The answer's timings name the one hop (`single`)
and the stages that ran inside it (`in_process`).

The smart variant (SINGLE_CPU_ENDPOINT set): a second all-stage endpoint runs the same job on
ONNX Runtime on a CPU instance. `/classify-smart` (and `route=cpu`) counts the request's tokens
here first, with the preprocess worker's own stage function (the model's tokenizer, run in
this process), so the routing policy (routing.py) and its fallbacks are the split layout's
own: the pipeline's inference step, whose endpoints are the two all-stage ones, each job the
whole request. The answer's timings name the hop that ran (`single` or `single_cpu`).
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
    copied_error,
    first_stage_error,
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


def single_endpoints(
    settings: OrchestratorSettings, client: httpx.AsyncClient, api_key: str | None
) -> tuple[SingleEndpoint, SingleEndpoint | None]:
    """The all-stage endpoint, and its CPU twin when SINGLE_CPU_ENDPOINT is set."""
    endpoints = {
        Stage.SINGLE: (settings.single_endpoint, settings.single_timeout_s),
        Stage.SINGLE_CPU: (settings.single_cpu_endpoint, settings.single_cpu_timeout_s),
    }
    made = {
        stage: SingleEndpoint(
            stage,
            endpoint_base_url(value, settings.runpod_api_base),
            client,
            timeout_s,
            settings.poll_interval_s,
            api_key,
            hosted=is_hosted(value, settings.runpod_api_base),
            variable=f"{stage.upper()}_ENDPOINT",
            ttl_s=settings.job_ttl_s,
        )
        for stage, (value, timeout_s) in endpoints.items()
        if value.strip()
    }
    return made[Stage.SINGLE], made.get(Stage.SINGLE_CPU)


class SinglePipeline(Pipeline):
    """The pipeline over one endpoint that runs all three stages: one job per request. With
    a `router` that has a CPU endpoint (the all-stage CPU twin), `tokens` is the preprocess
    stage run here to count the tokens the router chooses by."""

    def __init__(
        self,
        endpoint: StageClient,
        metrics: Metrics | None = None,
        router: InferenceRouter | None = None,
        tokens: StageClient | None = None,
    ):
        # Without a CPU twin: the all-stage worker runs its own inference.
        router = router or InferenceRouter(endpoint, None, RoutingPolicy(0, 0, has_cpu=False))
        if router.has_cpu and tokens is None:
            raise ValueError("a CPU all-stage endpoint needs the tokens counted here")
        counted = {Stage.PREPROCESS: tokens} if router.has_cpu and tokens else {}
        super().__init__({Stage.SINGLE: endpoint, **counted}, metrics, router)
        # Each routed request's answer from its endpoint, by id(outcome), until it is read.
        self._answers: dict[int, tuple[SingleJobOutput, Stage, StageTiming]] = {}

    async def classify_many(
        self,
        requests: list[list[str]],
        request_ids: list[str] | None = None,
        routes: list[RouteChoice] | None = None,
    ) -> tuple[list[RequestOutcome], dict[Stage, StageTiming]]:
        """One job per request, all at once: a request fails alone. The requests that leave
        the endpoint to the router (or name the CPU one) go through the router first."""
        outcomes = self.outcomes(requests, request_ids, routes)
        by_router = [self._by_router(o) for o in outcomes]
        routed = [o for o, chosen in zip(outcomes, by_router, strict=True) if chosen]
        direct = [o for o, chosen in zip(outcomes, by_router, strict=True) if not chosen]
        await asyncio.gather(self._routed(routed), *(self._classify(o) for o in direct))
        return outcomes, {}

    def _by_router(self, outcome: RequestOutcome) -> bool:
        return self.router.has_cpu and outcome.route_choice is not RouteChoice.GPU

    async def _routed(self, outcomes: list[RequestOutcome]) -> None:
        """Tokens counted here, then the pipeline's own inference step over the two
        all-stage endpoints (routing, fallback); the job ran every stage."""
        if not outcomes:
            return
        try:
            await self._run(outcomes, {})
        except StageError as exc:
            for outcome in outcomes:
                outcome.error = outcome.error or copied_error(exc)
        for outcome in outcomes:
            answer = self._answers.pop(id(outcome), None)
            if answer is not None and outcome.error is None:
                output, hop, timing = answer
                self._answered(outcome, output, hop, timing)

    async def _infer_jobs(
        self, endpoint: StageClient, members: list[RequestOutcome], timings: list[StageTiming]
    ) -> None:
        """Each member's whole request as one all-stage job on `endpoint`."""

        async def run(outcome: RequestOutcome) -> None:
            raw, timing = await self._job(endpoint, outcome, "gpu")
            timings.append(timing)
            output = parse_output(endpoint.stage, SingleJobOutput, raw)
            self._answers[id(outcome)] = (output, endpoint.stage, timing)

        try:
            async with asyncio.TaskGroup() as group:
                for outcome in members:
                    group.create_task(run(outcome))
        except BaseExceptionGroup as failures:
            raise first_stage_error(failures) from None

    async def _postprocess(self, *_: Any) -> None:
        """The all-stage job ran it."""

    async def _classify(self, outcome: RequestOutcome) -> None:
        # No CPU twin, or the GPU named: `cpu` is refused before (503), `smart` runs on the
        # all-stage worker's own inference and says so.
        route = "smart" if outcome.route_choice is RouteChoice.SMART else "gpu"
        try:
            raw, timing = await self._job(self.endpoints[Stage.SINGLE], outcome, route)
            output = parse_output(Stage.SINGLE, SingleJobOutput, raw)
        except StageError as exc:
            outcome.error = exc
            return
        outcome.route = output.route
        self._answered(outcome, output, Stage.SINGLE, timing)
        self.metrics.routed(output.route)

    async def _job(self, endpoint: StageClient, outcome: RequestOutcome, route: str):
        job = {"texts": outcome.texts, "route": route}
        rids = [outcome.request_id] if outcome.request_id else []
        return await self.run_stage(endpoint.stage, job, rids, endpoint)

    @staticmethod
    def _answered(
        outcome: RequestOutcome, output: SingleJobOutput, hop: Stage, timing: StageTiming
    ) -> None:
        """The job's results, and its timings: the stages inside it and the one hop. The
        request's job is its own, whatever ran beside it: billed to it in full."""
        outcome.results = output.results
        outcome.timings = {**_stage_timings(output.timings), hop: timing}
        outcome.shares = {hop: 1.0}
