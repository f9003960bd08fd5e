"""A stand-in for Runpod's hosted endpoint API, for the faults that cannot be made to happen
locally. It speaks the hosted wire format: POST /runsync, GET /status/{id}, POST /cancel/{id},
Bearer auth, delayTime/executionTime, and the SDK's JSON error for a raised exception.

Each endpoint id picks a behaviour: http://host:port/v2/<behaviour>. An id that names no
behaviour is an endpoint that does not exist: 404, as the hosted API answers.
"""

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

API_KEY = "rp_test_key"
SDK_TRACEBACK_ERROR = json.dumps(
    {
        "error_type": "<class 'KeyError'>",
        "error_message": "'secret-internal-detail'",
        "error_traceback": 'Traceback (most recent call last):\n  File "/app/handler.py"...',
        "hostname": "worker-abc",
        "worker_id": "abc",
        "runpod_version": "1.12.0",
    }
)


BEHAVIOURS = {
    "echo",
    "rate-limited",
    "queued",
    "stuck",
    "stall",
    "flaky-status",
    "local-status",
    "failed",
    "raised",
    "timed-out",
    "server-error",
    # A GPU endpoint whose pool ran dry: jobs queue, no worker is ready, none ever runs.
    "backlogged",
}


class FakeRunpod:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.status_polls: dict[str, int] = defaultdict(int)
        self.cancelled: list[str] = []
        # Every /runsync body, by endpoint: what the orchestrator sent (input, policy).
        self.submitted: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ids = itertools.count(1)
        self.app = self._build()
        self.url = ""

    def base(self, behaviour: str) -> str:
        return f"{self.url}/v2/{behaviour}"

    def _build(self) -> FastAPI:
        app = FastAPI()

        def done(job_id: str, output: Any) -> dict[str, Any]:
            return {
                "id": job_id,
                "status": "COMPLETED",
                "output": output,
                "delayTime": 1200,
                "executionTime": 35,
            }

        @app.post("/v2/{behaviour}/runsync")
        async def runsync(behaviour: str, request: Request):
            self.calls.append(("POST", f"/v2/{behaviour}/runsync"))
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            body = await request.json()
            self.submitted[behaviour].append(body)
            job_id = f"job-{next(self._ids)}"
            if behaviour == "stall":  # a connection that never answers, not even at `wait`
                await asyncio.sleep(3600)
            if behaviour == "echo":
                return done(job_id, {"echo": body["input"]})
            if behaviour == "rate-limited" and self.calls.count(("POST", request.url.path)) == 1:
                return JSONResponse({"error": "too many"}, status_code=429)
            if behaviour == "rate-limited":
                return done(job_id, {"ok": True})
            if behaviour in ("queued", "stuck", "flaky-status", "local-status", "backlogged"):
                return {"id": job_id, "status": "IN_QUEUE"}
            if behaviour == "failed":
                return {"id": job_id, "status": "FAILED", "error": "Text cannot be empty"}
            if behaviour == "raised":
                return {"id": job_id, "status": "FAILED", "error": SDK_TRACEBACK_ERROR}
            if behaviour == "timed-out":
                return {"id": job_id, "status": "TIMED_OUT"}
            if behaviour == "server-error":
                return JSONResponse({"error": "boom"}, status_code=500)
            return JSONResponse({"error": "unknown behaviour"}, status_code=404)

        @app.get("/v2/{behaviour}/status/{job_id}")
        async def status(behaviour: str, job_id: str):
            if behaviour == "local-status":  # Runpod's local API server: POST only
                return JSONResponse({"detail": "Method Not Allowed"}, status_code=405)
            self.status_polls[job_id] += 1
            if behaviour == "flaky-status" and self.status_polls[job_id] == 1:
                return JSONResponse({"error": "bad gateway"}, status_code=502)
            if behaviour == "flaky-status":
                return done(job_id, {"after_polls": self.status_polls[job_id]})
            if behaviour == "queued" and self.status_polls[job_id] >= 2:
                return done(job_id, {"after_polls": self.status_polls[job_id]})
            return {"id": job_id, "status": "IN_PROGRESS"}

        @app.post("/v2/{behaviour}/status/{job_id}")
        async def local_status(behaviour: str, job_id: str):
            return done(job_id, {"polled_with": "POST"})

        @app.post("/v2/{behaviour}/cancel/{job_id}")
        async def cancel(behaviour: str, job_id: str):
            self.cancelled.append(job_id)
            return {"id": job_id, "status": "CANCELLED"}

        @app.get("/v2/{behaviour}/health")
        async def health(behaviour: str):
            if behaviour not in BEHAVIOURS:
                return JSONResponse({"error": "endpoint not found"}, status_code=404)
            if behaviour == "backlogged":
                return {
                    "jobs": {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 3},
                    "workers": {"idle": 0, "initializing": 0, "running": 0, "throttled": 2},
                }
            return {"jobs": {"inQueue": 0, "inProgress": 0}, "workers": {"idle": 1, "running": 0}}

        return app


@contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Any ASGI app on a real uvicorn server on 127.0.0.1, for tests that need real HTTP
    (chunked bodies, clients that go away); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@contextmanager
def serve_fake_runpod(port: int) -> Iterator[FakeRunpod]:
    fake = FakeRunpod()
    with serve_in_thread(fake.app, port) as url:
        fake.url = url
        yield fake
