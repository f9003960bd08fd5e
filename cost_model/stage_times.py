"""Measured stage times: read from JSONL, one pipeline answer (or its `timings`) per line.

Any JSONL whose records carry the orchestrator's `timings` object works: answers saved from
`POST /classify`, the benchmark's output, or `python -m cost_model.measure`'s. A record may be
the whole answer (`{"timings": {...}, ...}`) or the timings object itself. A stage's time is
its `execution_ms` when the endpoint reported one (the hosted API does), else its
`round_trip_ms` (Runpod's local API server reports no execution time: the round trip then
includes one local HTTP hop). Records without all three stages (errors, single-stage calls)
are skipped.

A record with a `machine` key is the header: where the times were measured (machine, model),
and the workers' cold starts measured there, `cold_start_s` per stage.
"""

import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from contracts import STAGE_ENDPOINTS, StageTiming, Timings, describe_validation_error

STAGES = tuple(endpoint.value for endpoint in STAGE_ENDPOINTS)
SHIPPED = Path(__file__).resolve().parent / "data" / "measured_stage_times.jsonl"


class StageTimesError(ValueError):
    """The file cannot be used; the message names it, and the line when one is to blame."""


@dataclass(frozen=True)
class StageSample:
    """One request's execution seconds on each stage."""

    preprocess_s: float
    inference_s: float
    postprocess_s: float

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.inference_s + self.postprocess_s


class MeasuredHeader:
    """What a measurements file's header record says: where it was measured, cold starts."""

    header: dict

    @property
    def cold_starts_s(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.header.get("cold_start_s", {}).items()}

    @property
    def measured_on_gpu(self) -> bool:
        return bool((self.header.get("machine") or {}).get("gpu"))

    def describe_machine(self) -> str:
        machine = self.header.get("machine") or {}
        if not machine:
            return "machine not recorded"
        parts = [
            f"{machine.get('cores', '?')} cores",
            machine.get("cpu_model") or "unknown CPU",
            f"GPU: {machine.get('gpu') or 'none'}",
        ]
        model = self.header.get("model")
        return ", ".join(parts) + (f"; model: {model}" if model else "")


@dataclass
class MeasuredTimes(MeasuredHeader):
    samples: list[StageSample]
    source: str
    header: dict = field(default_factory=dict)
    skipped: int = 0
    # Which field the times came from, per stage: "execution_ms" or "round_trip_ms".
    fields_used: set[str] = field(default_factory=set)

    def mean_s(self, stage: str) -> float:
        return statistics.fmean(getattr(s, f"{stage}_s") for s in self.samples)


def _stage_seconds(timing: StageTiming) -> tuple[float, str]:
    if timing.execution_ms is not None:
        return timing.execution_ms / 1000, "execution_ms"
    return timing.round_trip_ms / 1000, "round_trip_ms"


def read_records(path: Path | str, what: str) -> Iterator[tuple[int, dict]]:
    """Each JSON object of a JSONL file of `what`, with its line number; StageTimesError names
    the line of anything else."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StageTimesError(f"cannot read {what} from {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StageTimesError(f"{path.name}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise StageTimesError(f"{path.name}, line {number}: expected a JSON object")
        yield number, record


def load(path: Path | str = SHIPPED) -> MeasuredTimes:
    path = Path(path)
    measured = MeasuredTimes(samples=[], source=path.name)
    for number, record in read_records(path, "stage times"):
        if "machine" in record:
            measured.header = record
            continue
        try:
            timings = Timings.model_validate(record.get("timings", record))
        except ValidationError as exc:
            problem = describe_validation_error(exc)[0]
            raise StageTimesError(
                f"{path.name}, line {number}: not a pipeline answer's timings ({problem})"
            ) from None
        stages = [getattr(timings, stage) for stage in STAGES]
        if any(stage is None for stage in stages):
            measured.skipped += 1
            continue
        seconds = []
        for stage in stages:
            value, used = _stage_seconds(stage)
            seconds.append(value)
            measured.fields_used.add(used)
        measured.samples.append(StageSample(*seconds))
    if not measured.samples:
        raise StageTimesError(
            f"{path.name}: no record with timings for all three stages ({measured.skipped} skipped)"
        )
    return measured
