"""The postprocess stage as one plain function: job input in, PostprocessOutput out."""

from typing import Any

from contracts.aggregation import aggregate_windows, label_scores, ranked
from contracts.postprocess import (
    Classification,
    ClassificationResult,
    PostprocessInput,
    PostprocessItem,
    PostprocessOutput,
    PostprocessSingleOutput,
    ResultMetadata,
    confidence_level,
    text_preview,
)
from contracts.shapes import is_single_form


def format_item(item: PostprocessItem, model: str | None) -> ClassificationResult:
    if item.windows is not None:
        all_predictions = aggregate_windows(item.windows)
        window_count = len(item.windows)
    else:
        assert item.predictions is not None  # guaranteed by the contract
        all_predictions = ranked(label_scores(item.predictions))
        window_count = 1
    best = all_predictions[0]
    # The caller's metadata first, so the counts this stage knows for certain win.
    metadata: dict[str, Any] = dict(item.metadata or {})
    if item.stats:
        metadata.update(item.stats.model_dump())
    metadata["windows"] = window_count
    if model is not None or "model" not in metadata:
        metadata["model"] = model
    return ClassificationResult(
        classification=Classification(
            label=best.label,
            confidence=best.confidence,
            confidence_level=confidence_level(best.confidence),
            all_predictions=all_predictions,
        ),
        metadata=ResultMetadata(**metadata),
    )


def postprocess(job_input: Any) -> PostprocessOutput | PostprocessSingleOutput:
    single = is_single_form(job_input)
    request = PostprocessInput.model_validate(job_input)
    model = request.model_info.model_id if request.model_info else None
    results = [format_item(item, model) for item in request.items]
    if not single:
        return PostprocessOutput(results=results)
    # The pattern's form in, the pattern's form out: the one result at the top level.
    item = request.items[0]
    return PostprocessSingleOutput(
        **results[0].model_dump(),
        text_preview=text_preview(item.original_text) if item.original_text else None,
    )
