"""Start the four workers in Runpod's local API mode and the orchestrator, as real processes.

Used by `make run` and by the end-to-end tests, so both exercise the same start-up path:
each worker is `python handler.py --rp_serve_api` in its own folder, exactly as Runpod's
local test mode documents, and the orchestrator is `python -m orchestrator`. The fourth
worker is the inference worker again, on ONNX Runtime: /classify-smart's CPU endpoint. In
LAYOUT=single that endpoint is the all-stage worker on ONNX Runtime (single_cpu).
"""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# (stage, folder, default port); the orchestrator's default endpoints point at these ports.
WORKERS = [
    ("preprocess", "preprocess_worker", 8001),
    ("inference", "inference_worker", 8002),
    ("postprocess", "postprocess_worker", 8003),
    ("cpu_inference", "inference_worker", 8004),
    # LAYOUT=single: the all-stage worker (single_worker/), the orchestrator's one endpoint.
    ("single", "single_worker", 8005),
    # LAYOUT=single's smart variant: the all-stage worker on ONNX Runtime.
    ("single_cpu", "single_worker", 8006),
]
LAYOUTS = ("split", "inline", "single")
# The workers each layout runs (docs/architecture.md#layouts): inline runs preprocess,
# postprocess and the CPU inference in the orchestrator's own process.
LAYOUT_WORKERS = {
    "split": ("preprocess", "inference", "postprocess", "cpu_inference"),
    "inline": ("inference",),
    "single": ("single", "single_cpu"),
}
# The worker that runs ONNX Runtime for /classify-smart in each layout, whose endpoint
# setting is emptied when the model has no model.onnx (inline runs it in the orchestrator,
# under the CPU inference endpoint's setting).
ONNX_WORKERS = {"split": "cpu_inference", "inline": "cpu_inference", "single": "single_cpu"}
# What the orchestrator of a layout is told besides the started workers' endpoints.
LAYOUT_ENV = {"inline": {"CPU_INFERENCE_ENDPOINT": "inline"}}
# What a worker runs with besides the shared environment.
WORKER_ENV = {"cpu_inference": {"BACKEND": "onnx"}, "single_cpu": {"BACKEND": "onnx"}}
ORCHESTRATOR_PORT = 8888
# The environment variables `make run` reads each service's port from.
PORT_VARIABLES = {
    "preprocess": "PREPROCESS_PORT",
    "inference": "INFERENCE_PORT",
    "postprocess": "POSTPROCESS_PORT",
    "cpu_inference": "CPU_INFERENCE_PORT",
    "single": "SINGLE_PORT",
    "single_cpu": "SINGLE_CPU_PORT",
    "orchestrator": "PORT",
}

LineSink = Callable[[str, str], None]


class StartupError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def endpoint_variable(stage: str) -> str:
    """The orchestrator's setting that names a stage's endpoint."""
    return f"{stage.upper()}_ENDPOINT"


def ports_from_env(environ: Mapping[str, str]) -> dict[str, int]:
    """The ports set in PORT_VARIABLES; the services left out keep their defaults."""
    ports = {}
    for service, variable in PORT_VARIABLES.items():
        value = environ.get(variable, "").strip()
        if not value:
            continue
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise StartupError(f"{variable}={value!r} is not a port number (1 to 65535)")
        ports[service] = int(value)
    return ports


def print_line(name: str, line: str) -> None:
    print(f"[{name:>13}] {line}", end="" if line.endswith("\n") else "\n", flush=True)


@dataclass
class Service:
    name: str
    command: list[str]
    cwd: Path
    port: int
    ready_path: str
    port_variable: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def tail(self, lines: int = 30) -> str:
        return "".join(self.output[-lines:])


class LocalStack:
    def __init__(
        self,
        env: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
        host: str = "127.0.0.1",
        sink: LineSink | None = None,
        python: str = sys.executable,
        ready_timeout_s: float = 180.0,
        without: Collection[str] = (),
        worker_niceness: int = 0,
        layout: str = "split",
    ):
        """The workers `layout` needs and the orchestrator, told LAYOUT. `without` names
        workers not to start. The orchestrator is told that every worker not started has no
        endpoint (unless `env` names one). `worker_niceness` lowers the workers' CPU
        priority, as if they ran on machines of their own (benchmarks.overload)."""
        if layout not in LAYOUTS:
            raise StartupError(f"LAYOUT={layout!r} is not a layout: one of {', '.join(LAYOUTS)}")
        without = {*without, *(n for n, _, _ in WORKERS if n not in LAYOUT_WORKERS[layout])}
        env = {"LAYOUT": layout, **LAYOUT_ENV.get(layout, {}), **(env or {})}
        ports = ports or {}
        self.host = host
        self._sink = sink
        self._ready_timeout_s = ready_timeout_s
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._env.setdefault("RUNPOD_LOG_LEVEL", "INFO")
        self.workers = [
            Service(
                name=stage,
                command=[
                    *(["nice", "-n", str(worker_niceness)] if worker_niceness else []),
                    python,
                    "handler.py",
                    "--rp_serve_api",
                    "--rp_api_host",
                    host,
                    "--rp_api_port",
                    str(ports.get(stage, port)),
                ],
                cwd=REPO_ROOT / folder,
                port=ports.get(stage, port),
                # The local API server has no /health route; its OpenAPI page means it is up.
                ready_path="/openapi.json",
                port_variable=PORT_VARIABLES[stage],
                env=WORKER_ENV.get(stage, {}),
            )
            for stage, folder, port in WORKERS
            if stage not in without
        ]
        orchestrator_port = ports.get("orchestrator", ORCHESTRATOR_PORT)
        self.orchestrator = Service(
            name="orchestrator",
            command=[python, "-m", "orchestrator"],
            cwd=REPO_ROOT,
            port=orchestrator_port,
            ready_path="/ping",
            port_variable=PORT_VARIABLES["orchestrator"],
        )
        # The orchestrator calls the local workers, except where `env` names an endpoint.
        self._env.update(
            {
                endpoint_variable(w.name): w.url(host)
                for w in self.workers
                if endpoint_variable(w.name) not in (env or {})
            }
            | {
                endpoint_variable(name): ""
                for name in without
                if endpoint_variable(name) not in (env or {})
            }
            | {"PORT": str(orchestrator_port), "HOST": host}
        )

    @property
    def services(self) -> list[Service]:
        return [*self.workers, self.orchestrator]

    @property
    def url(self) -> str:
        return self.orchestrator.url(self.host)

    def check_ports(self) -> None:
        """Raise StartupError, naming the variable to change, for a port that is taken."""
        by_port: dict[int, list[Service]] = {}
        for service in self.services:
            by_port.setdefault(service.port, []).append(service)
        for port, services in by_port.items():
            if len(services) > 1:
                names = " and ".join(f"{s.port_variable} ({s.name})" for s in services)
                raise StartupError(f"{names} are both port {port}: give each its own port")
        busy = [s for s in self.services if port_in_use(s.port, self.host)]
        if busy:
            lines = "".join(
                f"\n  {s.name}: port {s.port} is in use; set {s.port_variable} to a free port"
                for s in busy
            )
            raise StartupError(
                f"ports already in use (another pipeline running?):{lines}\n"
                f"  e.g. {busy[0].port_variable}={free_port()} make run"
            )

    def start(self) -> "LocalStack":
        self.check_ports()
        try:
            for service in self.workers:
                self._spawn(service)
            for service in self.workers:
                self._wait_ready(service)
            self._spawn(self.orchestrator)
            self._wait_ready(self.orchestrator)
        except BaseException:
            self.stop()
            raise
        return self

    def dead(self) -> list[tuple[Service, int]]:
        """Services whose process has exited, with their exit codes."""
        return [
            (s, s.process.returncode)
            for s in self.services
            if s.process is not None and s.process.poll() is not None
        ]

    def stop(self, timeout_s: float = 15.0) -> None:
        # The orchestrator first: on SIGTERM it drains, and the requests in flight need the
        # workers to finish.
        for services in ([self.orchestrator], self.workers):
            running = [s.process for s in services if s.process and s.process.poll() is None]
            stop_processes(running, timeout_s)

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, service: Service) -> None:
        service.process = subprocess.Popen(
            service.command,
            cwd=service.cwd,
            env={**self._env, **service.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        threading.Thread(target=self._pump, args=(service,), daemon=True).start()

    def _pump(self, service: Service) -> None:
        assert service.process is not None and service.process.stdout is not None
        for line in service.process.stdout:
            service.output.append(line)
            if self._sink:
                self._sink(service.name, line)

    def _wait_ready(self, service: Service) -> None:
        assert service.process is not None
        url = service.url(self.host) + service.ready_path
        wait_until_answers(service.process, url, self._ready_timeout_s, service.name, service.tail)


def stop_processes(processes: list[subprocess.Popen], timeout_s: float = 15.0) -> None:
    """SIGTERM each, then SIGKILL whichever is still running when `timeout_s` is up."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_answers(
    process: subprocess.Popen,
    url: str,
    timeout_s: float,
    name: str,
    tail: Callable[[], str] = lambda: "",
    poll_s: float = 0.25,
) -> None:
    """Return once `url` answers 200 (asked every `poll_s`); raise StartupError, with the
    process's last output, if the process exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise StartupError(f"{name} exited with code {code} while starting:\n{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(poll_s)
    raise StartupError(f"{name} did not answer at {url} within {timeout_s:g} s:\n{tail()}")
