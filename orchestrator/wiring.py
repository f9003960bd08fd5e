"""Wiring: the orchestrator's services built from its settings, and its middleware stack.

The routes (routes/) read what they use from `Services`, which the app's lifespan fills
once the HTTP connection pool is open. Every middleware is added here, in one place, in
the order a request meets them.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from starlette.types import Scope

from contracts import (
    STAGE_ENDPOINTS,
    Endpoint,
    InferenceTarget,
    RequestCost,
    Stage,
    Timings,
    request_cost,
)
from contracts.layouts import IN_PROCESS, Layout
from orchestrator.access import install_caller_access
from orchestrator.admission import Admission, AdmissionMiddleware, FixedLimit, LatencyLimit
from orchestrator.coalescing import Answer, Coalescer
from orchestrator.errors import StageUnavailableError
from orchestrator.gpu_availability import GpuAvailability
from orchestrator.metrics import Metrics
from orchestrator.pipeline import Pipeline
from orchestrator.request_guard import RequestGuard
from orchestrator.routing import InferenceRouter, RoutingPolicy
from orchestrator.runpod_client import StageEndpoint
from orchestrator.settings import LAYOUT_ENDPOINTS, OrchestratorSettings
from orchestrator.stage_client import StageClient


class Services:
    """What the routes use: the settings, metrics and prices at once; the pipeline and its
    coalescer once the app has started (`serving`)."""

    def __init__(self, settings: OrchestratorSettings):
        self.settings = settings
        self.metrics = Metrics()
        self.admission = Admission(admission_limit(settings), self.metrics)
        self.prices = settings.prices()
        self.pipeline: Pipeline
        self.coalescer: Coalescer

    @property
    def stage_clients(self) -> list[StageClient]:
        """Every endpoint the pipeline calls: the three stages', and the CPU inference one."""
        router = self.pipeline.router
        return [
            *self.pipeline.endpoints.values(),
            *([router.endpoint(InferenceTarget.CPU)] if router.has_cpu else []),
        ]

    def require_cpu_inference(self) -> None:
        if not self.pipeline.router.has_cpu:
            fix = (
                "set SINGLE_CPU_ENDPOINT (LAYOUT=single)"
                if self.settings.layout is Layout.SINGLE
                else "set CPU_INFERENCE_ENDPOINT"
            )
            raise StageUnavailableError(Stage.INFERENCE, f"no CPU inference endpoint: {fix}")

    def charge(
        self,
        timings: Timings,
        share: float = 1.0,
        stage_shares: dict[Stage, float] | None = None,
        inference_on: InferenceTarget = InferenceTarget.GPU,
    ) -> RequestCost:
        """The request's execution cost, counted in the metrics as it is answered."""
        cost = request_cost(timings, self.prices, share, stage_shares, inference_on)
        self.metrics.charged(cost, inference_on)
        return cost

    def charge_answer(self, answer: Answer) -> RequestCost:
        on = answer.route.endpoint if answer.route else InferenceTarget.GPU
        return self.charge(answer.timings, answer.share, answer.stage_shares, on)

    @asynccontextmanager
    async def serving(self, app: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: the connection pool, the stage clients over it (and, in
        LAYOUT=inline, the thread pool of the stages run here), the pipeline."""
        settings = self.settings
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
        )
        async with AsyncExitStack() as resources:
            client = await resources.enter_async_context(httpx.AsyncClient(limits=limits))
            self.pipeline = layout_pipeline(settings, client, self.metrics, resources)
            self.coalescer = Coalescer(
                self.pipeline.classify_many, settings.coalesce_wait_ms, settings.coalesce_max_texts
            )
            try:
                yield
            finally:
                # Jobs cancelled in the last moments still get their /cancel before the pool closes.
                await asyncio.gather(*(ep.drain_cancellations() for ep in self.stage_clients))


def services(request: Request) -> Services:
    """The routes' dependency: the app's services."""
    return request.app.state.services


def layout_pipeline(
    settings: OrchestratorSettings,
    client: httpx.AsyncClient,
    metrics: Metrics,
    resources: AsyncExitStack,
) -> Pipeline:
    """The pipeline of LAYOUT: its endpoints over `client`, its stages run in this process
    (LAYOUT=inline) kept open by `resources`. Each layout's modules are imported only when
    it is chosen: the split layout loads no worker code."""
    if settings.layout is Layout.SINGLE:
        from orchestrator.single_layout import SinglePipeline, single_endpoints

        gpu, cpu = single_endpoints(settings, client, api_key_of(settings))
        if cpu is None:
            return SinglePipeline(gpu, metrics)
        from orchestrator.inline_layout import tokens_here

        tokens = resources.enter_context(tokens_here(settings, metrics.stage_cpu))
        return SinglePipeline(gpu, metrics, inference_router(settings, gpu, cpu), tokens)
    endpoints: dict[Endpoint, StageClient] = {**runpod_endpoints(settings, client)}
    if settings.layout is Layout.INLINE:
        from orchestrator.inline_layout import inline_stages

        endpoints.update(resources.enter_context(inline_stages(settings, metrics.stage_cpu)))
    stages = {e.stage: endpoints[e] for e in STAGE_ENDPOINTS}
    router = inference_router(
        settings, endpoints[Endpoint.INFERENCE], endpoints.get(Endpoint.INFERENCE_CPU)
    )
    return Pipeline(stages, metrics, router)


def api_key_of(settings: OrchestratorSettings) -> str | None:
    return settings.runpod_api_key.get_secret_value() if settings.runpod_api_key else None


def runpod_endpoints(
    settings: OrchestratorSettings, client: httpx.AsyncClient
) -> dict[Endpoint, StageEndpoint]:
    """The Runpod endpoints LAYOUT calls: the three stages' (LAYOUT=inline: the inference
    one alone), and the CPU inference one when it is set to an endpoint."""
    api_key = api_key_of(settings)
    endpoints = {}
    for endpoint in LAYOUT_ENDPOINTS[settings.layout]:
        config = settings.endpoint(endpoint)
        if endpoint is Endpoint.INFERENCE_CPU and config.value.strip() in ("", IN_PROCESS):
            continue
        endpoints[endpoint] = StageEndpoint(
            endpoint.stage,
            config.base_url,
            client,
            config.timeout_s,
            settings.poll_interval_s,
            api_key,
            hosted=config.hosted,
            name=endpoint.value,
            variable=endpoint.variable,
            ttl_s=settings.job_ttl_s,
        )
    return endpoints


def inference_router(
    settings: OrchestratorSettings, gpu: StageClient, cpu: StageClient | None
) -> InferenceRouter:
    """The inference endpoints (LAYOUT=single: the all-stage ones) and the policy that picks
    one per request."""
    return InferenceRouter(
        gpu,
        cpu,
        RoutingPolicy(
            max_cpu_tokens=settings.smart_max_cpu_tokens,
            fallback_max_tokens=settings.smart_fallback_max_tokens,
            has_cpu=cpu is not None,
            retry_timeout_on_cpu=settings.smart_retry_timeout_on_cpu,
        ),
        GpuAvailability(gpu, settings.smart_gpu_max_queue_s, settings.smart_gpu_health_interval_s),
    )


def runs_stage_jobs(scope: Scope) -> bool:
    """The requests admission counts: every POST starts stage jobs."""
    return scope.get("method") == "POST"


def admission_limit(settings: OrchestratorSettings) -> LatencyLimit | FixedLimit:
    if settings.admission == "fixed":
        return FixedLimit(settings.max_in_flight)
    return LatencyLimit(
        settings.max_in_flight,
        settings.admission_latency_tolerance,
        settings.admission_probe_interval_s,
    )


def install_middleware(app: FastAPI, settings: OrchestratorSettings, services: Services) -> None:
    """The middleware stack, outermost last (Starlette wraps each new one around the rest):
    RequestGuard, then caller keys, then admission, then the routes."""
    app.add_middleware(AdmissionMiddleware, admission=services.admission, counts=runs_stage_jobs)
    install_caller_access(app, settings)
    app.add_middleware(
        RequestGuard,
        max_request_bytes=settings.max_request_bytes,
        metrics=services.metrics,
    )
