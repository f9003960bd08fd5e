"""The postprocess stage as one plain function: job input in, PostprocessOutput out."""

from typing import Any

from contracts import (
    Classification,
    ClassificationResult,
    PostprocessInput,
    PostprocessItem,
    PostprocessOutput,
    ResultMetadata,
    confidence_level,
)
from postprocess_worker.aggregate import aggregate_windows, label_scores, ranked


def format_item(item: PostprocessItem, model: str | None) -> ClassificationResult:
    if item.windows is not None:
        all_predictions = aggregate_windows(item.windows)
        window_count = len(item.windows)
    else:
        assert item.predictions is not None  # guaranteed by the contract
        all_predictions = ranked(label_scores(item.predictions))
        window_count = 1
    best = all_predictions[0]
    stats = item.stats.model_dump() if item.stats else {}
    return ClassificationResult(
        classification=Classification(
            label=best.label,
            confidence=best.confidence,
            confidence_level=confidence_level(best.confidence),
            all_predictions=all_predictions,
        ),
        metadata=ResultMetadata(**stats, windows=window_count, model=model),
    )


def postprocess(job_input: Any) -> PostprocessOutput:
    request = PostprocessInput.model_validate(job_input)
    model = request.model_info.model_id if request.model_info else None
    return PostprocessOutput(results=[format_item(item, model) for item in request.items])
