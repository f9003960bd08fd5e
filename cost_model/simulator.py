"""An event-by-event simulation of Runpod serverless endpoints, their workers and queues.

What it models, and the assumptions it makes (docs/cost.md repeats them):

- **Billing.** A flex worker bills from the moment it starts until it stops: its cold start,
  every job, and its idle timeout after its last job, rounded up to the whole second once per
  worker lifetime. Active (min) workers run and bill for the whole window, at an optional
  discount. Only time inside the billing window counts: a lifetime that crosses an edge of the
  window is charged its rounded seconds in proportion to the part inside.
- **Workers.** A worker started at t is ready at t + cold start (image pull included, when
  given). Min workers are already up at time 0 and never stop. A worker whose last job ends
  waits the idle timeout, then stops unless a job came in.
- **Jobs per worker.** A worker holds up to `concurrency` jobs (the workers' MAX_CONCURRENCY).
  A job is a list of phases, each on a lane: CPU phases of the jobs one worker holds run
  `cpu_lanes` at a time (the CPU handlers run their work inline on one event loop), GPU phases
  run together (the inference worker batches concurrent jobs into shared forward passes; each
  still takes its own measured time, which is optimistic while batches stay small).
- **Dispatch.** A queued job goes to a ready worker with a free slot, else it waits in the
  endpoint's queue, first in first out. Which worker Runpod hands a job to is not documented.
  `pack` (the default) gives it to the busiest worker with room, so workers a burst started
  idle out once it has passed: the workers the traffic needs, a lower bound. `spread` gives
  it to the least busy one, as when every worker with room polls for jobs and any may win:
  then every worker gets a share, and under steady traffic none idles out, so the workers a
  cold start's backlog once started stay up (and bill) for as long as the traffic lasts.
- **Scaling.** An endpoint with no worker starts one at the first job. Beyond that,
  `queue_delay` (Runpod's default, 4 s): when a job has waited `scaler_value` seconds and the
  queue is larger than the free slots of the workers already starting, one more worker
  starts. `request_count`: each new job starts workers until there are
  ceil((queued + running jobs) / scaler_value). Never more than `workers_max`; workers stop
  only by their idle timeout.
- **Hops and calls.** A request's hops run in sequence; each hop is a job on one endpoint.
  A job on a queue-based endpoint waits `hop_s` of Runpod queue overhead before it is queued;
  a job on a load-balancing endpoint (the orchestrator's) goes straight to a worker's HTTP
  server and waits none. A phase may be a call: the job keeps its slot on its worker (not a
  lane: the orchestrator awaits the call without holding its CPU) while the called job runs
  on its own endpoint, then goes on with its next phase. So the orchestrator's worker is
  busy, and billed, for as long as any request it holds is in flight.

The simulation holds no randomness: arrival times and each request's stage times come in,
so a seed upstream makes it deterministic.
"""

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

CPU: int = 0
GPU: int = 1
# Not a lane: a phase on CALL is a job on another endpoint, which this job waits for.
CALL: int = 2
LANE_NAMES = ("cpu", "gpu")

# Event kinds, in the order they win a tie at the same instant: work finishing frees a slot
# before a new job looks for one, and an idle check sees the job that arrived at its deadline.
_PHASE_DONE, _READY, _ARRIVE, _SCALE_CHECK, _IDLE_CHECK = range(5)

Scaler = Literal["queue_delay", "request_count"]
Dispatch = Literal["pack", "spread"]


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    price_usd_per_s: float
    cold_start_s: float
    idle_timeout_s: float = 5.0
    workers_min: int = 0
    workers_max: int = 3
    concurrency: int = 8
    cpu_lanes: int = 1
    scaler: Scaler = "queue_delay"
    scaler_value: float = 4.0
    dispatch: Dispatch = "pack"
    # Active (min) workers are discounted by arrangement with Runpod, up to 30 %.
    active_discount: float = 0.0
    # A load-balancing endpoint: its jobs skip the queue, and with it the per-hop delay.
    load_balancer: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.price_usd_per_s < 0:
            problems.append("price must be >= 0")
        if self.cold_start_s < 0 or self.idle_timeout_s < 0:
            problems.append("cold start and idle timeout must be >= 0")
        if self.workers_max < 1 or not 0 <= self.workers_min <= self.workers_max:
            problems.append("need 0 <= workers_min <= workers_max and workers_max >= 1")
        if self.concurrency < 1 or self.cpu_lanes < 1:
            problems.append("concurrency and cpu_lanes must be >= 1")
        if self.scaler_value <= 0:
            problems.append("scaler_value must be > 0")
        if self.dispatch not in ("pack", "spread"):
            problems.append("dispatch must be pack or spread")
        if not 0 <= self.active_discount < 1:
            problems.append("active_discount must be in [0, 1)")
        if problems:
            raise ValueError(f"endpoint {self.name}: " + "; ".join(problems))


# One phase of a job: (lane, seconds), or (CALL, hop): a job on another endpoint, awaited.
# One hop of a request: (endpoint index, phases).
Phase = tuple[int, "float | Hop"]
Hop = tuple[int, tuple[Phase, ...]]


@dataclass
class EndpointUsage:
    name: str
    price_usd_per_s: float
    billed_s: float  # flex workers: whole seconds per lifetime, the part inside the window
    active_s: float  # min workers: seconds inside the window, all of them together
    active_discount: float
    workers_started: int  # cold starts
    peak_workers: int
    # The work the window's requests brought, over what workers_max workers can do in the
    # window (CPU work one lane each, jobs `concurrency` each): at 1 or more the queue grows
    # without end, and work left at the window's end is not billed. NaN without a window.
    load: float = math.nan

    @property
    def overloaded(self) -> bool:
        return self.load >= 1

    @property
    def cost_usd(self) -> float:
        active = self.active_s * (1 - self.active_discount)
        return (self.billed_s + active) * self.price_usd_per_s


@dataclass
class SimResult:
    endpoints: list[EndpointUsage]
    requests: int  # requests that arrived inside the window
    latencies_s: list[float] = field(repr=False)  # theirs, sorted

    @property
    def cost_usd(self) -> float:
        return sum(e.cost_usd for e in self.endpoints)

    @property
    def overloaded(self) -> list[EndpointUsage]:
        return [e for e in self.endpoints if e.overloaded]

    @property
    def cost_per_1000_usd(self) -> float:
        return self.cost_usd / self.requests * 1000 if self.requests else math.nan

    def latency_percentile_s(self, q: float) -> float:
        if not self.latencies_s:
            return math.nan
        index = min(len(self.latencies_s) - 1, math.ceil(q * len(self.latencies_s)) - 1)
        return self.latencies_s[max(index, 0)]


class _Job:
    __slots__ = ("endpoint", "hop", "parent", "phase", "phases", "queued", "request", "worker")

    def __init__(
        self,
        request: int,
        hop: int,
        endpoint: int,
        phases: tuple[Phase, ...],
        parent: "_Job | None" = None,
    ):
        self.request = request
        self.hop = hop  # the request's top-level hop this job is, or is called from
        self.endpoint = endpoint
        self.phases = phases
        self.parent = parent  # the job that called this one and waits for it
        self.phase = 0
        self.queued = True  # still in the endpoint's queue, not yet taken by a worker
        self.worker: _Worker | None = None


class _Worker:
    __slots__ = (
        "active",
        "endpoint",
        "held",
        "idle_gen",
        "lane_busy",
        "lane_cap",
        "lane_waiting",
        "ready",
        "started_at",
    )

    def __init__(self, endpoint: "_Endpoint", started_at: float, active: bool):
        self.endpoint = endpoint
        self.started_at = started_at
        self.active = active
        self.ready = False
        self.held = 0
        self.idle_gen = 0
        self.lane_busy = [0, 0]
        self.lane_cap = [endpoint.config.cpu_lanes, endpoint.config.concurrency]
        self.lane_waiting: tuple[deque, deque] = (deque(), deque())


class _Endpoint:
    __slots__ = ("billed_s", "config", "live", "peak", "queue", "running_jobs", "started")

    def __init__(self, config: EndpointConfig):
        self.config = config
        self.queue: deque[_Job] = deque()
        self.live: list[_Worker] = []
        self.running_jobs = 0
        self.billed_s = 0.0
        self.started = 0
        self.peak = 0


class _Simulation:
    def __init__(
        self,
        endpoints: Sequence[EndpointConfig],
        arrivals: Sequence[float],
        routes: Sequence[Sequence[Hop]],
        window: tuple[float, float],
        hop_s: float,
    ):
        if len(arrivals) != len(routes):
            raise ValueError("one route per arrival")
        self.endpoints = [_Endpoint(c) for c in endpoints]
        self.arrivals = arrivals
        self.routes = routes
        self.window = window
        self.hop_s = hop_s
        self.done_at = [math.nan] * len(arrivals)
        self.heap: list[tuple] = []
        self.seq = 0

    def push(self, time: float, kind: int, a: object = None, b: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time, kind, self.seq, a, b))

    def run(self) -> SimResult:
        for endpoint in self.endpoints:
            for _ in range(endpoint.config.workers_min):
                worker = _Worker(endpoint, 0.0, active=True)
                worker.ready = True
                endpoint.live.append(worker)
            endpoint.peak = len(endpoint.live)
        for request, arrived in enumerate(self.arrivals):
            self.submit(arrived, self.top_level_job(request, 0))
        heap = self.heap
        pop = heapq.heappop
        while heap:
            now, kind, _, a, b = pop(heap)
            if kind == _PHASE_DONE:
                self.phase_done(now, a, b)
            elif kind == _ARRIVE:
                self.arrive(now, a)
            elif kind == _READY:
                a.ready = True
                self.dispatch(now, a.endpoint)
                if a.held == 0:
                    self.went_idle(now, a)
            elif kind == _SCALE_CHECK:
                self.scale_check(now, a, b)
            else:
                self.idle_check(now, a, b)
        return self.result()

    # --- requests and jobs ---

    def top_level_job(self, request: int, hop: int) -> _Job:
        index, phases = self.routes[request][hop]
        return _Job(request, hop, index, phases)

    def submit(self, now: float, job: _Job) -> None:
        """Send `job` to its endpoint: a queue-based one takes it after the hop delay."""
        load_balancer = self.endpoints[job.endpoint].config.load_balancer
        self.push(now + (0.0 if load_balancer else self.hop_s), _ARRIVE, job)

    def arrive(self, now: float, job: _Job) -> None:
        endpoint = self.endpoints[job.endpoint]
        endpoint.queue.append(job)
        self.dispatch(now, endpoint)
        # The request count scaler counts every job; the queue delay scaler only a queued one.
        if endpoint.queue or endpoint.config.scaler == "request_count":
            self.scale_on_arrival(now, endpoint, job)

    def dispatch(self, now: float, endpoint: _Endpoint) -> None:
        queue = endpoint.queue
        concurrency = endpoint.config.concurrency
        # pack: the busiest worker with room (its held count, made negative, is smallest).
        sign = -1 if endpoint.config.dispatch == "pack" else 1
        while queue:
            best = None
            best_key = 0
            for worker in endpoint.live:
                if worker.ready and worker.held < concurrency:
                    key = sign * worker.held
                    if best is None or key < best_key:
                        best, best_key = worker, key
            if best is None:
                return
            job = queue.popleft()
            job.queued = False
            job.worker = best
            best.held += 1
            best.idle_gen += 1  # any pending idle check is stale now
            endpoint.running_jobs += 1
            self.start_phase(now, best, job)

    def start_phase(self, now: float, worker: _Worker, job: _Job) -> None:
        lane, seconds = job.phases[job.phase]
        if lane == CALL:
            index, phases = seconds
            self.submit(now, _Job(job.request, job.hop, index, phases, parent=job))
            return
        if worker.lane_busy[lane] < worker.lane_cap[lane]:
            worker.lane_busy[lane] += 1
            self.push(now + seconds, _PHASE_DONE, worker, job)
        else:
            worker.lane_waiting[lane].append(job)

    def phase_done(self, now: float, worker: _Worker, job: _Job) -> None:
        lane = job.phases[job.phase][0]
        worker.lane_busy[lane] -= 1
        waiting = worker.lane_waiting[lane]
        if waiting:
            self.start_phase(now, worker, waiting.popleft())
        self.next_phase(now, job)

    def next_phase(self, now: float, job: _Job) -> None:
        job.phase += 1
        if job.phase < len(job.phases):
            self.start_phase(now, job.worker, job)
        else:
            self.job_done(now, job)

    def job_done(self, now: float, job: _Job) -> None:
        worker = job.worker
        endpoint = worker.endpoint
        worker.held -= 1
        endpoint.running_jobs -= 1
        if job.parent is not None:
            self.next_phase(now, job.parent)
        elif job.hop + 1 < len(self.routes[job.request]):
            self.submit(now, self.top_level_job(job.request, job.hop + 1))
        else:
            self.done_at[job.request] = now
        self.dispatch(now, endpoint)
        if worker.held == 0:
            self.went_idle(now, worker)

    # --- workers ---

    def start_worker(self, now: float, endpoint: _Endpoint) -> None:
        worker = _Worker(endpoint, now, active=False)
        endpoint.live.append(worker)
        endpoint.started += 1
        endpoint.peak = max(endpoint.peak, len(endpoint.live))
        self.push(now + endpoint.config.cold_start_s, _READY, worker)

    def went_idle(self, now: float, worker: _Worker) -> None:
        if worker.active:
            return
        worker.idle_gen += 1
        self.push(now + worker.endpoint.config.idle_timeout_s, _IDLE_CHECK, worker, worker.idle_gen)

    def idle_check(self, now: float, worker: _Worker, generation: int) -> None:
        if generation != worker.idle_gen or worker.held:
            return
        endpoint = worker.endpoint
        endpoint.live.remove(worker)
        endpoint.billed_s += self.billed_seconds(worker.started_at, now)

    def billed_seconds(self, started: float, stopped: float) -> float:
        lifetime = stopped - started
        # Rounded up once per lifetime; the epsilon keeps 7.0000000001 (float sums) at 7.
        rounded = math.ceil(lifetime - 1e-9)
        start, end = self.window
        inside = min(stopped, end) - max(started, start)
        if inside <= 0 or lifetime <= 0:
            return 0.0
        return rounded * (inside / lifetime)

    # --- scaling ---

    def uncovered(self, endpoint: _Endpoint) -> int:
        starting = sum(1 for w in endpoint.live if not w.ready)
        return len(endpoint.queue) - starting * endpoint.config.concurrency

    def scale_on_arrival(self, now: float, endpoint: _Endpoint, job: _Job) -> None:
        config = endpoint.config
        if not endpoint.live:
            self.start_worker(now, endpoint)
        if config.scaler == "queue_delay":
            self.push(now + config.scaler_value, _SCALE_CHECK, endpoint, job)
            return
        pending = len(endpoint.queue) + endpoint.running_jobs
        target = min(math.ceil(pending / config.scaler_value), config.workers_max)
        while len(endpoint.live) < target:
            self.start_worker(now, endpoint)

    def scale_check(self, now: float, endpoint: _Endpoint, job: _Job) -> None:
        if (
            job.queued
            and len(endpoint.live) < endpoint.config.workers_max
            and self.uncovered(endpoint) > 0
        ):
            self.start_worker(now, endpoint)

    # --- results ---

    def loads(self) -> list[float]:
        start, end = self.window
        if math.isinf(end - start):
            return [math.nan] * len(self.endpoints)
        cpu_s = [0.0] * len(self.endpoints)
        held_s = [0.0] * len(self.endpoints)

        def add(hop: Hop) -> float:
            """Count `hop`'s work on its endpoint; the seconds it holds a slot there, queueing
            left out."""
            index, phases = hop
            held = 0.0
            for lane, value in phases:
                if lane == CALL:
                    load_balancer = self.endpoints[value[0]].config.load_balancer
                    held += add(value) + (0.0 if load_balancer else self.hop_s)
                    continue
                held += value
                if lane == CPU:
                    cpu_s[index] += value
            held_s[index] += held
            return held

        for request, arrived in enumerate(self.arrivals):
            if start <= arrived < end:
                for hop in self.routes[request]:
                    add(hop)
        loads = []
        for endpoint, cpu, held in zip(self.endpoints, cpu_s, held_s, strict=True):
            config = endpoint.config
            capacity_s = (end - start) * config.workers_max
            loads.append(
                max(cpu / (capacity_s * config.cpu_lanes), held / (capacity_s * config.concurrency))
            )
        return loads

    def result(self) -> SimResult:
        start, end = self.window
        usages = []
        for endpoint, load in zip(self.endpoints, self.loads(), strict=True):
            config = endpoint.config
            active = sum(1 for w in endpoint.live if w.active)
            usages.append(
                EndpointUsage(
                    name=config.name,
                    price_usd_per_s=config.price_usd_per_s,
                    billed_s=endpoint.billed_s,
                    active_s=active * (end - start) if active else 0.0,
                    active_discount=config.active_discount,
                    workers_started=endpoint.started,
                    peak_workers=endpoint.peak,
                    load=load,
                )
            )
        latencies = sorted(
            self.done_at[r] - arrived
            for r, arrived in enumerate(self.arrivals)
            if start <= arrived < end
        )
        return SimResult(endpoints=usages, requests=len(latencies), latencies_s=latencies)


def simulate(
    endpoints: Sequence[EndpointConfig],
    arrivals: Sequence[float],
    routes: Sequence[Sequence[Hop]],
    window: tuple[float, float] | None = None,
    hop_s: float = 0.0,
) -> SimResult:
    """Run `arrivals` (seconds, ascending), request i along `routes[i]`, through `endpoints`.

    `window` (start, end) is what is measured: the requests that arrive in it and the worker
    time inside it. Without one, everything from time 0 to the last arrival counts, and the
    idle tail after it too (flex workers' whole lifetimes).
    """
    if window is None:
        window = (0.0, math.inf)
        if any(c.workers_min for c in endpoints):
            raise ValueError("min workers bill around the clock: give a window to bill them over")
    return _Simulation(endpoints, arrivals, routes, window, hop_s).run()
