"""What the pipeline needs of a stage: run one job, say whether it can serve.

`StageEndpoint` (runpod_client.py) is the one over Runpod's API, hosted or local; anything
with the same methods can stand in for it (a stage run in the orchestrator's own process,
a test double), so the pipeline runs the same over real workers and in process.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from contracts import Stage, StageTiming


@dataclass(frozen=True)
class HealthReading:
    """One reading of an endpoint's /health: what health.py and gpu_availability.py judge."""

    # The hosted API (or a stand-in for it): its /health shows workers and jobs.
    hosted: bool
    # None: no answer at all (refused, timed out).
    status_code: int | None = None
    # The answer's JSON, when it was JSON.
    body: Any = None
    is_json: bool = False
    # An endpoint given as a URL whose /health shows no workers: what else there answers like a
    # Runpod worker (None: nothing), and the codes of the other paths asked.
    worker_sign: str | None = None
    probe_codes: tuple[int, ...] = ()

    @classmethod
    def from_response(cls, response: httpx.Response, hosted: bool) -> "HealthReading":
        try:
            return cls(hosted, response.status_code, response.json(), is_json=True)
        except ValueError:
            return cls(hosted, response.status_code)

    @property
    def answered(self) -> bool:
        return self.status_code is not None

    @property
    def shows_workers(self) -> bool:
        """The answer of the hosted API's /health (or a stand-in or proxy of it)."""
        return self.status_code == 200 and isinstance(self.body, dict) and "workers" in self.body

    def counts(self, key: str) -> dict[str, Any]:
        """`workers` or `jobs` of a hosted /health, {} when absent."""
        value = self.body.get(key) if isinstance(self.body, dict) else None
        return value if isinstance(value, dict) else {}


class StageClient(Protocol):
    """One stage's endpoint, as the pipeline and the routes use it."""

    stage: Stage
    # Metrics and logs tell a stage's endpoints apart by it ("inference_cpu").
    name: str

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        """Run one job to its end: its output and how long each part took, or a StageError."""
        ...

    async def health(self, timeout_s: float) -> HealthReading:
        """One reading of whether the endpoint can serve."""
        ...

    async def drain_cancellations(self) -> None:
        """Wait for cancellations still under way (at shutdown)."""
        ...
