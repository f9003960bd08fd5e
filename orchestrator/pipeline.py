"""The pipeline: one preprocess job, one inference job, one postprocess job, for many texts.

The texts may belong to several requests (see coalescing.py): each request's outcome is its
own. A text a worker refuses fails its own request only (shared_jobs.py); a stage that fails
as a whole fails every request in it. The inference stage has two endpoints (routing.py):
each request's texts go to the GPU one or the CPU one, so a run may have a job on each, and
a failure on one endpoint fails only the requests sent there, or sends them to the other
(inference_fallback.py). Every stage output is validated against its contract
(stage_output.py) before the next stage sees it.

The stages are StageClients (stage_client.py): Runpod endpoints, or anything that runs a job.
"""

import asyncio
import time
from typing import Any

from contracts import (
    DEFAULT_SMART_MAX_CPU_TOKENS,
    InferenceOutput,
    InferenceTarget,
    PostprocessOutput,
    PreprocessBatchOutput,
    RouteChoice,
    Stage,
    StageTiming,
    WorkerError,
)
from contracts.tracing import with_request_ids
from orchestrator.errors import StageError, StageFailedError, first_stage_error, typed_stage_error
from orchestrator.gpu_availability import GpuTrouble
from orchestrator.inference_fallback import infer_with_fallback
from orchestrator.metrics import Metrics
from orchestrator.outcome import RequestOutcome, request_ids
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.shared_jobs import chunks_by_windows, combined_timing, shared_job
from orchestrator.stage_client import StageClient
from orchestrator.stage_output import parse_output


class Pipeline:
    def __init__(
        self,
        endpoints: dict[Stage, StageClient],
        metrics: Metrics | None = None,
        router: InferenceRouter | None = None,
    ):
        self.endpoints = endpoints
        self.metrics = metrics or Metrics()
        # Without a router: the GPU endpoint alone, as /classify uses it.
        self.router = router or InferenceRouter(
            endpoints[Stage.INFERENCE],
            None,
            RoutingPolicy(DEFAULT_SMART_MAX_CPU_TOKENS, 0, has_cpu=False),
        )

    async def run_stage(
        self,
        stage: Stage,
        job_input: dict[str, Any],
        request_ids: list[str] | None = None,
        endpoint: StageClient | None = None,
    ) -> tuple[Any, StageTiming]:
        """One job on the stage's endpoint (or `endpoint`, the inference stage's CPU one),
        carrying the ids of the requests it serves."""
        endpoint = endpoint or self.endpoints[stage]
        try:
            output, timing = await endpoint.run(with_request_ids(job_input, request_ids or []))
        except StageError as exc:
            self.metrics.stage_error(endpoint.name, exc.error_type)
            raise
        self.metrics.job(endpoint.name, timing)
        return output, timing

    def outcomes(
        self,
        requests: list[list[str]],
        request_ids: list[str] | None,
        routes: list[RouteChoice] | None,
    ) -> list[RequestOutcome]:
        """One outcome per request of a run, counted in the metrics."""
        ids = request_ids or [""] * len(requests)
        choices = routes or [RouteChoice.GPU] * len(requests)
        self.metrics.requests_per_run.observe(len(requests))
        return [
            RequestOutcome(texts, rid, choice)
            for texts, rid, choice in zip(requests, ids, choices, strict=True)
        ]

    async def classify_many(
        self,
        requests: list[list[str]],
        request_ids: list[str] | None = None,
        routes: list[RouteChoice] | None = None,
    ) -> tuple[list[RequestOutcome], dict[Stage, StageTiming]]:
        """Classify each request's texts with one job per stage for all of them (the
        inference stage: one per endpoint the requests' `routes` lead to).

        Raises StageError when a stage fails as a whole (every request fails with it); a
        request whose own text a worker refused, or whose inference endpoint failed, gets
        that error in its outcome instead.
        """
        outcomes = self.outcomes(requests, request_ids, routes)
        done: dict[Stage, StageTiming] = {}
        try:
            await self._run(outcomes, done)
        except StageError as exc:
            # The error answer shows how far the request got, and how long each part took.
            exc.timings = {**done, **exc.timings}
            raise
        return outcomes, done

    async def _run(self, outcomes: list[RequestOutcome], done: dict[Stage, StageTiming]) -> None:
        shared_by = len(outcomes)
        # Whether the GPU endpoint can serve is read beside the preprocess stage (a cached
        # reading most of the time), and only when a request leaves the choice to us.
        probe = None
        if any(o.route_choice is RouteChoice.SMART for o in outcomes):
            probe = asyncio.ensure_future(self.router.gpu_trouble())
        try:
            await self._preprocess(outcomes, done, shared_by)
            # Each later stage is shared by the requests still alive.
            live = [o for o in outcomes if o.error is None]
            if live:
                await self._infer(live, done, len(live), await self._gpu_trouble(live, probe))
        finally:
            if probe is not None and not probe.done():
                probe.cancel()
        live = [o for o in live if o.error is None]
        if live:
            await self._postprocess(live, done, len(live))

    async def _gpu_trouble(
        self, live: list[RequestOutcome], probe: asyncio.Future | None
    ) -> GpuTrouble | None:
        """The GPU endpoint's trouble, waited for only when a `smart` request is big enough
        to go there; otherwise the reading finishes in the background, for later requests."""
        policy = self.router.policy
        if probe is None or not any(
            o.route_choice is RouteChoice.SMART and o.tokens > policy.max_cpu_tokens for o in live
        ):
            return None
        return await probe

    async def _preprocess(
        self, outcomes: list[RequestOutcome], done: dict[Stage, StageTiming], shared_by: int
    ) -> None:
        texts = [{"text": text} for o in outcomes for text in o.texts]
        raw, timing = await self.run_stage(
            Stage.PREPROCESS, {"items": texts}, request_ids(outcomes)
        )
        done[Stage.PREPROCESS] = timing.model_copy(update={"shared_by": shared_by})
        output = parse_output(Stage.PREPROCESS, PreprocessBatchOutput, raw)
        if len(output.results) != len(texts):
            raise StageFailedError(
                Stage.PREPROCESS, "the worker returned a wrong number of results"
            )
        results = iter(output.results)
        for outcome in outcomes:
            mine = [next(results) for _ in outcome.texts]
            failed = next((r for r in mine if isinstance(r, WorkerError)), None)
            if failed is not None:
                outcome.error = typed_stage_error(Stage.PREPROCESS, failed)
            else:
                outcome.preprocessed = mine  # type: ignore[assignment]

    async def _infer(
        self,
        live: list[RequestOutcome],
        done: dict[Stage, StageTiming],
        shared_by: int,
        gpu_trouble: GpuTrouble | None,
    ) -> None:
        for outcome in live:
            outcome.route = self.router.policy.choose(
                outcome.route_choice, outcome.tokens, gpu_trouble
            )
        timings: list[StageTiming] = []
        started = time.perf_counter()
        # Each endpoint's requests on their own: one endpoint's failure is not the other's.
        async with asyncio.TaskGroup() as group:
            for target in InferenceTarget:
                members = [o for o in live if o.route and o.route.endpoint is target]
                if members:
                    group.create_task(
                        infer_with_fallback(
                            self.router, self._infer_jobs, target, members, started, timings
                        )
                    )
        done[Stage.INFERENCE] = combined_timing(timings, _ms_since(started), shared_by)
        for outcome in live:
            if outcome.route is not None:
                self.metrics.routed(outcome.route)

    async def _infer_jobs(
        self, endpoint: StageClient, members: list[RequestOutcome], timings: list[StageTiming]
    ) -> None:
        async def run_chunk(chunk: list[RequestOutcome]) -> None:
            items = [
                {"windows": p.windows, "tokenizer_fingerprint": p.tokenizer.fingerprint}
                for o in chunk
                for p in o.preprocessed
            ]
            self.metrics.windows_per_job.observe(sum(len(i["windows"]) for i in items))
            shares = await shared_job(
                self.run_stage,
                Stage.INFERENCE,
                chunk,
                {"items": items},
                timings,
                InferenceOutput,
                endpoint,
            )
            for outcome, output in shares:
                if output is not None:
                    outcome.windows = [r.windows for r in output.results]
                    outcome.model_info = output.model_info

        # A TaskGroup, not gather: when one job fails, its siblings are cancelled, and with
        # them their Runpod jobs (StageEndpoint.run), since nobody will read their answers.
        try:
            async with asyncio.TaskGroup() as group:
                for chunk in chunks_by_windows(members):
                    group.create_task(run_chunk(chunk))
        except BaseExceptionGroup as failures:
            raise first_stage_error(failures) from None

    async def _postprocess(
        self, live: list[RequestOutcome], done: dict[Stage, StageTiming], shared_by: int
    ) -> None:
        items = [
            {
                "windows": text_windows,
                "stats": {
                    "word_count": p.word_count,
                    "sentence_count": p.sentence_count,
                    "char_count": p.char_count,
                },
            }
            for o in live
            for p, text_windows in zip(o.preprocessed, o.windows, strict=True)
        ]
        timings: list[StageTiming] = []
        started = time.perf_counter()
        shares = await shared_job(
            self.run_stage,
            Stage.POSTPROCESS,
            live,
            {"items": items, "model_info": live[0].model_info},
            timings,
            PostprocessOutput,
        )
        done[Stage.POSTPROCESS] = combined_timing(timings, _ms_since(started), shared_by)
        for outcome, output in shares:
            if output is not None:
                outcome.results = output.results


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
