"""Combine a text's window predictions into one distribution: the token-weighted mean.

A rule, not a stage: postprocess aggregates a pipeline's windows with it, and inference
answers the pattern's single-text form with the same numbers.
"""

from contracts.errors import InputRuleError
from contracts.inference import Prediction, WindowPrediction


def ranked(scores: dict[str, float]) -> list[Prediction]:
    return sorted(
        (Prediction(label=label, confidence=value) for label, value in scores.items()),
        key=lambda score: score.confidence,
        reverse=True,
    )


def label_scores(predictions: list[Prediction]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for prediction in predictions:
        if prediction.label in scores:
            raise InputRuleError(
                f"Duplicate label {prediction.label!r} in predictions", field="predictions"
            )
        scores[prediction.label] = prediction.confidence
    return scores


def aggregate_windows(windows: list[WindowPrediction]) -> list[Prediction]:
    """Weight each window by its token count, so a short tail window counts for less."""
    per_window = [label_scores(window.predictions) for window in windows]
    labels = set(per_window[0])
    for window, scores in zip(windows, per_window, strict=True):
        if set(scores) != labels:
            raise InputRuleError(
                f"Window {window.index} has labels {sorted(scores)}, expected {sorted(labels)}"
            )
    weights = [max(window.token_count, 1) for window in windows]
    total = sum(weights)
    return ranked(
        {
            label: sum(w * scores[label] for w, scores in zip(weights, per_window, strict=True))
            / total
            for label in labels
        }
    )
