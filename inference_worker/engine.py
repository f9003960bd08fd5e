"""The inference stage as one plain async function: job input in, InferenceOutput out."""

import time
from typing import Any

from contracts import (
    InferenceInput,
    InferenceItem,
    InferenceOutput,
    ItemPrediction,
    LabelScore,
    TokenWindow,
    WindowPrediction,
)
from contracts.worker_result import StageInputError
from inference_worker.batcher import WindowBatcher
from inference_worker.model import Classifier


def windows_of(item: InferenceItem, classifier: Classifier, overlap: int) -> list[TokenWindow]:
    """The item's windows, checked against this model, or made here from its cleaned text."""
    if item.windows is None:
        assert item.cleaned_text is not None  # guaranteed by the contract
        return classifier.split_text(item.cleaned_text, overlap)
    if item.tokenizer_fingerprint != classifier.fingerprint:
        raise StageInputError(
            f"Tokenizer fingerprint {item.tokenizer_fingerprint} does not match this model's "
            f"tokenizer ({classifier.fingerprint}, model {classifier.info.model_id}): "
            "preprocess and inference must use the same MODEL_ID and MODEL_REVISION",
            field="tokenizer_fingerprint",
        )
    for window in item.windows:
        if len(window.input_ids) > classifier.max_length:
            raise StageInputError(
                f"Window {window.index} has {len(window.input_ids)} tokens; "
                f"the model accepts at most {classifier.max_length}"
            )
        if any(not 0 <= token < classifier.vocab_size for token in window.input_ids):
            raise StageInputError(
                f"Window {window.index} has token ids outside the model's vocabulary "
                f"(0..{classifier.vocab_size - 1})"
            )
    return item.windows


def _ranked(labels: list[str], probs: list[float]) -> list[LabelScore]:
    scores = [LabelScore(label=label, confidence=p) for label, p in zip(labels, probs, strict=True)]
    return sorted(scores, key=lambda score: score.confidence, reverse=True)


async def infer(
    job_input: Any, classifier: Classifier, batcher: WindowBatcher, overlap_tokens: int
) -> InferenceOutput:
    request = InferenceInput.model_validate(job_input)
    per_item = [windows_of(item, classifier, overlap_tokens) for item in request.items]
    started = time.perf_counter()
    probs, batching = await batcher.classify([w.input_ids for ws in per_item for w in ws])
    inference_ms = (time.perf_counter() - started) * 1000

    rows = iter(probs)
    results = [
        ItemPrediction(
            windows=[
                WindowPrediction(
                    index=window.index,
                    token_count=len(window.input_ids),
                    char_start=window.char_start,
                    char_end=window.char_end,
                    predictions=_ranked(classifier.labels, next(rows)),
                )
                for window in windows
            ]
        )
        for windows in per_item
    ]
    return InferenceOutput(
        results=results,
        model_info=classifier.info,
        batching=batching,
        inference_ms=round(inference_ms, 3),
    )
