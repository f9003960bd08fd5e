"""One request's share of a pipeline run: what each stage made of its texts, or what failed it."""

from dataclasses import dataclass, field

from contracts import (
    ClassificationResult,
    ModelInfo,
    PreprocessOutput,
    Route,
    RouteChoice,
    Stage,
    StageTiming,
    WindowPrediction,
)
from orchestrator.errors import StageError


@dataclass
class RequestOutcome:
    """One request's share of a pipeline run: what each stage made of its texts, its
    results, or what failed it."""

    texts: list[str]
    request_id: str = ""
    route_choice: RouteChoice = RouteChoice.GPU
    preprocessed: list[PreprocessOutput] = field(default_factory=list)
    route: Route | None = None
    windows: list[list[WindowPrediction]] = field(default_factory=list)
    model_info: ModelInfo | None = None
    results: list[ClassificationResult] = field(default_factory=list)
    error: StageError | None = None
    # A stage's timing as this request saw it, and its share of that stage's jobs, where they
    # differ from the run's: the inference stage, whose jobs are per endpoint.
    timings: dict[Stage, StageTiming] = field(default_factory=dict)
    shares: dict[Stage, float] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """The tokens the model reads for this request: every window of every text."""
        return sum(len(w.input_ids) for p in self.preprocessed for w in p.windows)


def request_ids(outcomes: list[RequestOutcome]) -> list[str]:
    return [o.request_id for o in outcomes if o.request_id]
