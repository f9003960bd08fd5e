"""Prometheus metrics, served at /metrics: what the pipeline does and what it costs.

One registry per app (not the library's global one), so each app made by create_app()
counts on its own. Labels are bounded: routes by their template, endpoints by the value of
contracts' Endpoint, error types, route reasons.
"""

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from contracts import ErrorType, InferenceTarget, RequestCost, Route, Stage, StageTiming
from contracts.cost import ALL_STAGE_HOPS, STAGES, priced_as

# Seconds: from a local job's few milliseconds to a hosted cold start of minutes.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total and the like (Linux): the whole process's CPU, of which
        # in_process_cpu below is the stages' share.
        ProcessCollector(registry=r)
        self.requests = Counter(
            "orchestrator_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "orchestrator_request_seconds",
            "Time to answer a request, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "orchestrator_requests_in_flight", "Requests that run stage jobs, now", registry=r
        )
        self.admission_limit = Gauge(
            "orchestrator_admission_limit",
            "Requests that may run stage jobs at once, as admission last set it",
            registry=r,
        )
        self.stage_seconds = Histogram(
            "orchestrator_stage_seconds",
            "A stage job's time: the orchestrator's round trip, and Runpod's queue (cold start "
            "included) and execution when the endpoint reports them",
            ["stage", "part"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "orchestrator_stage_jobs", "Stage jobs that finished", ["stage"], registry=r
        )
        self.stage_errors = Counter(
            "orchestrator_stage_errors",
            "Stage jobs that failed, by error type",
            ["stage", "error_type"],
            registry=r,
        )
        self.windows_per_job = Histogram(
            "orchestrator_inference_windows_per_job",
            "Token windows in one inference job",
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.requests_per_run = Histogram(
            "orchestrator_requests_per_run",
            "Requests that shared one pipeline run (one job per stage)",
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.inference_routes = Counter(
            "orchestrator_inference_routes",
            "Pipeline requests by the inference endpoint that ran them (gpu, cpu) and why "
            "(the route's reason)",
            ["endpoint", "reason"],
            registry=r,
        )
        self.cost = Counter(
            "orchestrator_cost_usd",
            "Execution cost of the stage jobs answered, in USD (no idle or cold-start time)",
            ["stage"],
            registry=r,
        )
        self.gpu_only_cost = Counter(
            "orchestrator_gpu_only_cost_usd",
            "What the same jobs would cost with every stage on the GPU worker, in USD",
            registry=r,
        )
        self.in_process_cpu = Counter(
            "orchestrator_in_process_cpu_seconds",
            "CPU time of the stage calls this process ran itself (LAYOUT=inline: preprocess, "
            "postprocess; LAYOUT=single with SINGLE_CPU_ENDPOINT: preprocess, to count tokens), "
            "by stage: each call's thread CPU time on the in-process pool",
            ["stage"],
            registry=r,
        )

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def job(self, endpoint: str, timing: StageTiming) -> None:
        """A finished job of `endpoint`: an Endpoint's value."""
        self.jobs.labels(endpoint).inc()
        self.stage_seconds.labels(endpoint, "round_trip").observe(timing.round_trip_ms / 1000)
        if timing.queue_ms is not None:
            self.stage_seconds.labels(endpoint, "queue").observe(timing.queue_ms / 1000)
        if timing.execution_ms is not None:
            self.stage_seconds.labels(endpoint, "execution").observe(timing.execution_ms / 1000)

    def stage_error(self, endpoint: str, error_type: ErrorType) -> None:
        self.stage_errors.labels(endpoint, error_type.value).inc()

    def routed(self, route: Route) -> None:
        self.inference_routes.labels(route.endpoint.value, route.reason.value).inc()

    def charged(
        self, cost: RequestCost, inference_on: InferenceTarget = InferenceTarget.GPU
    ) -> None:
        for stage in STAGES:
            stage_cost = getattr(cost, stage)
            if stage_cost is not None:
                self.cost.labels(priced_as(stage, inference_on)).inc(stage_cost.usd)
        for hop in ALL_STAGE_HOPS:
            if (hop_cost := getattr(cost, hop)) is not None:
                self.cost.labels(hop.value).inc(hop_cost.usd)
        self.gpu_only_cost.inc(cost.gpu_only_usd)

    def stage_cpu(self, stage: Stage, seconds: float) -> None:
        """A stage call run in this process took `seconds` of its thread's CPU time."""
        self.in_process_cpu.labels(stage.value).inc(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
