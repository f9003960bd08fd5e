"""Try what apply made: each queue endpoint runs one job (a worker's own test_input.json,
cleaned text for the inference endpoints, {"text": ...} for the single layout's all-stage
endpoints, whose answer must be a classification), the orchestrator (where the layout has
one) one /classify and, when smart, one /classify-smart that must be answered on the CPU
route; each result is reported
with its time in the queue (a cold start included) and its execution time, as Runpod
measured them.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contracts import RouteReason
from contracts.job_error import read_job_error
from deploy.config import STAGES, DeployStage
from deploy.runpod_api import RunpodUrls

# Short enough for /classify-smart to send to the CPU endpoint (SMART_MAX_CPU_TOKENS).
SMOKE_TEXT = "I love this product, it works great!"
# Each CPU worker's own test input, as Runpod's local test mode reads it.
REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER_FOLDERS = {
    DeployStage.PREPROCESS: "preprocess_worker",
    DeployStage.POSTPROCESS: "postprocess_worker",
}
# The all-stage endpoints: their job is what /classify takes, and answers what it answers.
ALL_STAGE_ENDPOINTS = (DeployStage.SINGLE, DeployStage.SINGLE_CPU)
CLASSIFY_PATH = "/classify"
SMART_PATH = "/classify-smart"
# What /classify-smart answers when it did not use the CPU endpoint it should have.
_CPU_MISSED = {RouteReason.CPU_UNREACHABLE, RouteReason.NO_CPU_ENDPOINT}
_FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
# A load balancer answers these while no worker is ready yet: a gateway error, or HTTP 400
# with one of Runpod's documented no-worker messages.
_LB_NOT_READY = {502, 503, 504}
_LB_NO_WORKER_MESSAGES = ("no workers available", "timed out waiting for worker")
# Runpod's bounds on a job's policy: executionTimeout from 5 s, ttl from 10 s.
_MIN_EXECUTION_TIMEOUT_MS = 5_000
_MIN_TTL_MS = 10_000


@dataclass
class SmokeResult:
    # A queue endpoint's stage, or the orchestrator's route ("/classify").
    tried: str
    ok: bool
    status: str
    round_trip_s: float
    queue_ms: int | None = None
    execution_ms: int | None = None
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    output: Any = None


def _job_error(error: Any) -> str:
    """A failed job's message, never the traceback the SDK puts beside it."""
    read = read_job_error(error)
    if read.typed is not None:
        return read.typed.error
    if read.is_raised_exception:
        return f"{read.raised_type or 'error'}: {read.raised_message}"[:300]
    return read.text[:300]


def _summary(output: Any) -> str:
    text = json.dumps(output, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


class Smoker:
    def __init__(
        self,
        urls: RunpodUrls,
        api_key: str,
        *,
        timeout_s: float,
        poll_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.urls = urls
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.sleep = sleep
        self.clock = clock
        # Long reads: /runsync holds the request while a worker starts.
        self._client = httpx.Client(
            timeout=httpx.Timeout(150.0, connect=10.0),
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def close(self) -> None:
        self._client.close()

    def policy(self) -> dict[str, int]:
        """The smoke job may neither run nor wait in the queue longer than the smoke waits."""
        timeout_ms = int(self.timeout_s * 1000)
        return {
            "executionTimeout": max(timeout_ms, _MIN_EXECUTION_TIMEOUT_MS),
            "ttl": max(timeout_ms, _MIN_TTL_MS),
        }

    def queue(self, stage: DeployStage, endpoint_id: str, job_input: dict[str, Any]) -> SmokeResult:
        base = self.urls.queue_url(endpoint_id)
        started = self.clock()
        deadline = started + self.timeout_s
        notes: list[str] = []
        body: dict[str, Any] | None = None
        job_id: str | None = None
        request = ("POST", f"{base}/runsync", {**job_input, "policy": self.policy()})
        while True:
            method, url, payload = request
            try:
                response = self._client.request(method, url, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                notes.append(f"{type(exc).__name__}; retried")
                response = None
            except httpx.TransportError as exc:
                if job_id is None:
                    return self._lost_submission(stage, started, type(exc).__name__, notes)
                notes.append(f"{type(exc).__name__}; retried")
                response = None
            if response is not None and job_id is None and _ambiguous(response.status_code):
                return self._lost_submission(stage, started, f"HTTP {response.status_code}", notes)
            if response is not None:
                if response.status_code in (401, 403):
                    return SmokeResult(
                        stage.value,
                        False,
                        f"HTTP {response.status_code}",
                        self.clock() - started,
                        detail="Runpod refused RUNPOD_API_KEY",
                    )
                if response.status_code == 404:
                    return SmokeResult(
                        stage.value,
                        False,
                        "HTTP 404",
                        self.clock() - started,
                        detail=f"no endpoint {endpoint_id}",
                    )
                if response.status_code < 400:
                    try:
                        body = response.json()
                    except ValueError:
                        body = {}
                    if body.get("status") in _FINAL:
                        break
                    if body.get("id"):
                        job_id = str(body["id"])
                        request = ("GET", f"{base}/status/{job_id}", None)
                else:
                    notes.append(f"HTTP {response.status_code}; retried")
            if self.clock() >= deadline:
                last = body.get("status") if body else "no answer"
                if job_id is not None:
                    self._cancel(base, job_id, notes)
                return SmokeResult(
                    stage.value,
                    False,
                    str(last),
                    self.clock() - started,
                    detail=f"not finished within {self.timeout_s:.0f} s",
                    notes=notes,
                )
            self.sleep(self.poll_s)
        status = body["status"]
        ok = status == "COMPLETED"
        return SmokeResult(
            stage.value,
            ok,
            status,
            self.clock() - started,
            queue_ms=body.get("delayTime"),
            execution_ms=body.get("executionTime"),
            detail=_summary(body.get("output")) if ok else _job_error(body.get("error")),
            notes=notes,
            output=body.get("output"),
        )

    def _lost_submission(
        self, stage: DeployStage, started: float, what: str, notes: list[str]
    ) -> SmokeResult:
        """The job may have been accepted: sending it again could run it twice."""
        return SmokeResult(
            stage.value,
            False,
            what,
            self.clock() - started,
            detail="the answer to the job's submission was lost; not sent again, as Runpod "
            "may have accepted it",
            notes=notes,
        )

    def _cancel(self, base: str, job_id: str, notes: list[str]) -> None:
        """A job the smoke stops waiting for should not run on, and bill, after it."""
        try:
            response = self._client.post(f"{base}/cancel/{job_id}")
        except httpx.TransportError as exc:
            notes.append(f"cancelling the job failed ({type(exc).__name__})")
            return
        if response.status_code >= 400:
            notes.append(f"cancelling the job answered HTTP {response.status_code}")

    def classify(self, endpoint_id: str, path: str = CLASSIFY_PATH) -> SmokeResult:
        """One POST of SMOKE_TEXT to the orchestrator's `path`, waiting out a cold start."""
        url = f"{self.urls.load_balancer_url(endpoint_id)}{path}"
        started = self.clock()
        deadline = started + self.timeout_s
        notes: list[str] = []
        while True:
            try:
                response = self._client.post(url, json={"text": SMOKE_TEXT})
            except httpx.TransportError as exc:
                response = None
                notes.append(f"{type(exc).__name__} while a worker started; retried")
            if response is not None and not _lb_not_ready(response):
                break
            if response is not None:
                notes.append(f"HTTP {response.status_code} while a worker started; retried")
            if self.clock() >= deadline:
                return SmokeResult(
                    path,
                    False,
                    "no answer",
                    self.clock() - started,
                    detail=f"no worker answered within {self.timeout_s:.0f} s",
                    notes=notes,
                )
            self.sleep(self.poll_s)
        elapsed = self.clock() - started
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            return SmokeResult(
                path,
                False,
                f"HTTP {response.status_code}",
                elapsed,
                detail=str(body.get("error", response.text[:200])),
                notes=notes,
            )
        classification = body.get("classification") or {}
        detail = f"{classification.get('label')} ({classification.get('confidence', 0):.3f})"
        timings = body.get("timings") or {}
        # The hops that ran in this layout: the orchestrator's answer names them.
        for hop, timing in timings.items():
            if not isinstance(timing, dict):
                continue
            notes.append(
                f"{hop} via the orchestrator: queue {_ms(timing.get('queue_ms'))}, "
                f"execution {_ms(timing.get('execution_ms'))}, round trip "
                f"{_ms(timing.get('round_trip_ms'))}"
            )
        ok, route = _route(body) if path == SMART_PATH else (True, "")
        return SmokeResult(path, ok, "HTTP 200", elapsed, detail=detail + route, notes=notes)


def _route(body: dict[str, Any]) -> tuple[bool, str]:
    """Whether /classify-smart's answer came from the CPU endpoint it should have used."""
    route = body.get("route")
    if not isinstance(route, dict):
        return False, ": the answer has no route; is the orchestrator image older than this?"
    said = f" on {route.get('endpoint')} ({route.get('reason')})"
    if route.get("reason") in _CPU_MISSED:
        return False, f"{said}: {route.get('detail')}"
    return True, said


def _ambiguous(status_code: int) -> bool:
    """A submission answered so may or may not have been accepted (429 certainly was not)."""
    return status_code >= 500


def _lb_not_ready(response: httpx.Response) -> bool:
    """Runpod's load balancer while no worker is up, not the orchestrator's own error (which
    carries an error_type: a stage that is down or timed out is a result to report)."""
    if response.status_code == 400:
        text = response.text.lower()
        return "error_type" not in text and any(m in text for m in _LB_NO_WORKER_MESSAGES)
    if response.status_code not in _LB_NOT_READY:
        return False
    try:
        return "error_type" not in response.json()
    except ValueError:
        return True


def _collapse(notes: list[str]) -> list[str]:
    """Repeated notes once, with a count: a cold start can mean many polls."""
    counts: dict[str, int] = {}
    for note in notes:
        counts[note] = counts.get(note, 0) + 1
    return [note if n == 1 else f"{note} (x{n})" for note, n in counts.items()]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f} ms"


# The pattern's inference input: the worker tokenizes it with its own model's tokenizer.
INFERENCE_SMOKE_INPUT = {
    "input": {
        "cleaned_text": "The battery life is fantastic and the screen is bright. I'd buy it again!",
        "word_count": 14,
    }
}


def _job_input(stage: DeployStage, repo_root: Path) -> dict[str, Any]:
    if stage in WORKER_FOLDERS:
        path = repo_root / WORKER_FOLDERS[stage] / "test_input.json"
        return json.loads(path.read_text("utf-8"))
    if stage in ALL_STAGE_ENDPOINTS:
        return {"input": {"text": SMOKE_TEXT}}
    # The inference worker's test_input.json is made per model (scripts/write_test_input.py)
    # and each deployed image baked its own; cleaned text is classified by any model.
    return INFERENCE_SMOKE_INPUT


def _classified(result: SmokeResult) -> SmokeResult:
    """An all-stage endpoint's job must answer what /classify answers: a classification."""
    output = result.output if isinstance(result.output, dict) else {}
    classification = output.get("classification")
    if result.ok and not (isinstance(classification, dict) and classification.get("label")):
        result.ok = False
        result.detail = "the answer has no classification: " + result.detail
    return result


def run_smoke(
    smoker: Smoker,
    endpoint_ids: dict[DeployStage, str],
    repo_root: Path = REPO_ROOT,
    *,
    smart: bool | None = None,
) -> list[SmokeResult]:
    """`endpoint_ids` holds the layout's endpoints; smart (by default: a CPU inference
    endpoint is among them) adds a /classify-smart through the orchestrator."""
    results = []
    for stage in STAGES:
        if stage not in endpoint_ids or stage is DeployStage.ORCHESTRATOR:
            continue
        result = smoker.queue(stage, endpoint_ids[stage], _job_input(stage, repo_root))
        results.append(_classified(result) if stage in ALL_STAGE_ENDPOINTS else result)
    orchestrator = endpoint_ids.get(DeployStage.ORCHESTRATOR)
    if orchestrator is None:
        return results
    results.append(smoker.classify(orchestrator))
    if DeployStage.INFERENCE_CPU in endpoint_ids if smart is None else smart:
        results.append(smoker.classify(orchestrator, SMART_PATH))
    return results


def describe_results(results: list[SmokeResult]) -> str:
    header = f"{'tried':<15} {'result':<10} {'queue*':>10} {'execution':>10} {'round trip':>11}"
    lines = [header]
    for r in results:
        lines.append(
            f"{r.tried:<15} {r.status:<10} {_ms(r.queue_ms):>10} "
            f"{_ms(r.execution_ms):>10} {r.round_trip_s:>9.1f} s  {r.detail}"
        )
        lines += [f"{'':<15} {note}" for note in _collapse(r.notes)]
    lines.append("* time in Runpod's queue as Runpod measured it, a cold start included")
    return "\n".join(lines)
