"""An issue's targets beside what a run measured: met, or missed and by how much.

Targets are read from a benchmark's output, never asserted by a test: a shared machine's
load moves them from run to run.
"""

from dataclasses import dataclass

from benchmarks.baselines import Baseline


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    target: float
    # True: the value must reach the target; False: it must stay at or below it.
    at_least: bool

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    def line(self) -> str:
        sign = "≥" if self.at_least else "≤"
        verdict = "met" if self.met else f"missed: {self.value / self.target:.2f}x the target"
        return f"{self.name:<42} {self.value:>10,.2f}  target {sign} {self.target:,g}  {verdict}"


def verdicts(title: str, targets: list[Target]) -> str:
    return "\n".join(["", f"## {title}", *(target.line() for target in targets)])


def against_baselines(
    name: str,
    texts_per_s: float,
    naive: Baseline,
    limit: Baseline,
    of_limit: float,
    of_naive: float,
) -> list[Target]:
    """`texts_per_s` must reach `of_limit` times the limit and `of_naive` times naive."""
    return [
        Target(f"{name}: x limit", texts_per_s / limit.texts_per_s, of_limit, True),
        Target(f"{name}: x naive", texts_per_s / naive.texts_per_s, of_naive, True),
    ]
