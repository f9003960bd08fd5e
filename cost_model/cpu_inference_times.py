"""How long the CPU inference endpoint (ONNX Runtime) takes for a request of N tokens.

Read from JSONL: a header record (`machine`, `model`, `cold_start_s.inference_cpu`), then one
record per measured size, `{"tokens": N, "round_trip_ms": MS}` (or `execution_ms`), as
`python -m cost_model.measure_cpu_inference` writes it. Between two measured sizes the time
is interpolated linearly; below the smallest it is the smallest's (a fixed cost dominates a
few tokens); above the largest it grows along the last two sizes' line (more windows, each
costing about the same).
"""

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from cost_model.stage_times import MeasuredHeader, StageTimesError, read_records

SHIPPED = Path(__file__).resolve().parent / "data" / "measured_cpu_inference_times.jsonl"


@dataclass
class CpuInferenceTimes(MeasuredHeader):
    # (tokens, seconds), ascending in tokens, one per size.
    points: list[tuple[int, float]]
    source: str = "given"
    header: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.points:
            raise StageTimesError(f"{self.source}: no measured size")
        self.points.sort()
        self._tokens = [tokens for tokens, _ in self.points]

    def seconds(self, tokens: int) -> float:
        """The endpoint's time for one request of `tokens` tokens, all windows together."""
        points = self.points
        if len(points) == 1:
            known_tokens, known_s = points[0]
            return known_s * max(tokens, known_tokens) / known_tokens
        if tokens <= points[0][0]:
            return points[0][1]
        index = min(bisect.bisect_left(self._tokens, tokens), len(points) - 1)
        (low_tokens, low_s), (high_tokens, high_s) = points[index - 1], points[index]
        return low_s + (high_s - low_s) * (tokens - low_tokens) / (high_tokens - low_tokens)


def load(path: Path | str = SHIPPED) -> CpuInferenceTimes:
    path = Path(path)
    header: dict = {}
    by_tokens: dict[int, float] = {}
    for number, record in read_records(path, "CPU inference times"):
        if "machine" in record:
            header = record
            continue
        tokens = record.get("tokens")
        ms = record.get("execution_ms", record.get("round_trip_ms"))
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            raise StageTimesError(f"{path.name}, line {number}: tokens must be an integer >= 1")
        if not isinstance(ms, int | float) or isinstance(ms, bool) or ms < 0:
            raise StageTimesError(
                f"{path.name}, line {number}: round_trip_ms (or execution_ms) must be a number >= 0"
            )
        by_tokens[tokens] = ms / 1000
    if not by_tokens:
        raise StageTimesError(f"{path.name}: no record with tokens and round_trip_ms")
    return CpuInferenceTimes(sorted(by_tokens.items()), path.name, header)
