"""The inference stage as plain functions: check a job, classify its windows, build its output.

parse_job and build_output are CPU work that grows with the job (pydantic validation, the
token id checks, one dict per window); infer() runs them on a worker thread so the event
loop stays free to take jobs and feed the device. The token id checks are vectorised: one
numpy pass over every window of the job. The output is plain dicts shaped exactly as
InferenceOutput (the tests validate them against it): building pydantic models per window
and dumping them again measured several times slower for a job of many windows.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

import numpy as np

from contracts import (
    BatchingInfo,
    InferenceInput,
    InferenceItem,
    ModelInfo,
    TokenWindow,
    WindowPrediction,
)
from contracts.aggregation import aggregate_windows
from contracts.shapes import is_single_form
from inference_worker.batcher import WindowBatcher
from worker_runtime.errors import ModelError, StageInputError


class Classifier(Protocol):
    """What infer() needs of a model: either backend (torch_backend.TorchClassifier,
    onnx_backend.OnnxClassifier) or a stand-in."""

    labels: list[str]
    vocab_size: int
    max_length: int
    fingerprint: str
    info: ModelInfo

    def probabilities(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]: ...

    def split_text(self, text: str, overlap_tokens: int) -> list[TokenWindow]: ...


# Where a field sits in the job's input, as contracts.errors names pydantic's fields:
# "items[2].windows[0].input_ids", or for a job of one item "windows[0].input_ids". One item
# is named as sent bare, also when it comes wrapped in "items": the orchestrator wraps the
# single item its caller sent to /gpu/inference (and validates it first, so pydantic's own
# errors, which would say "items[0]", never reach that caller).
FieldOf = Callable[[int, str], str]


@dataclass
class ParsedJob:
    windows: list[list[TokenWindow]]  # each item's windows
    sequences: list[np.ndarray]  # every window's token ids, item by item
    single_form: bool = False  # one text sent on its own, answered the same way


def parse_job(job_input: Any, classifier: Classifier, overlap_tokens: int) -> ParsedJob:
    """The job's windows, validated and checked against this model (raises ValidationError
    or StageInputError naming the field)."""
    single_form = is_single_form(job_input)
    request = InferenceInput.model_validate(job_input)
    single = len(request.items) == 1

    def field_of(item: int, name: str) -> str:
        return name if single else f"items[{item}].{name}"

    per_item = [
        windows_of(item, classifier, overlap_tokens, field_of, i)
        for i, item in enumerate(request.items)
    ]
    return ParsedJob(
        windows=per_item,
        sequences=checked_token_ids(per_item, classifier, field_of),
        single_form=single_form,
    )


def windows_of(
    item: InferenceItem, classifier: Classifier, overlap: int, field_of: FieldOf, position: int
) -> list[TokenWindow]:
    """The item's windows, made by this model's tokenizer, or made here from cleaned text."""
    if item.windows is None:
        assert item.cleaned_text is not None  # guaranteed by the contract
        return classifier.split_text(item.cleaned_text, overlap)
    if item.tokenizer_fingerprint != classifier.fingerprint:
        raise StageInputError(
            f"Tokenizer fingerprint {item.tokenizer_fingerprint} does not match this model's "
            f"tokenizer ({classifier.fingerprint}, model {classifier.info.model_id}): "
            "preprocess and inference must use the same MODEL_ID and MODEL_REVISION",
            field=field_of(position, "tokenizer_fingerprint"),
        )
    return item.windows


def checked_token_ids(
    per_item: list[list[TokenWindow]], classifier: Classifier, field_of: FieldOf
) -> list[np.ndarray]:
    """Every window's ids as numpy rows, checked in one pass: no window longer than the model
    takes, no id outside its vocabulary."""
    places = [
        (i, j, w.input_ids) for i, windows in enumerate(per_item) for j, w in enumerate(windows)
    ]
    lengths = np.fromiter((len(ids) for *_, ids in places), dtype=np.int64, count=len(places))
    too_long = np.flatnonzero(lengths > classifier.max_length)
    if too_long.size:
        i, j, ids = places[too_long[0]]
        field = field_of(i, f"windows[{j}].input_ids")
        raise StageInputError(
            f"{field}: the window has {len(ids)} tokens; "
            f"the model accepts at most {classifier.max_length}",
            field=field,
        )
    ends = np.cumsum(lengths)
    starts = ends - lengths
    try:
        flat = np.fromiter(
            chain.from_iterable(ids for *_, ids in places), dtype=np.int64, count=int(ends[-1])
        )
        outside = (flat < 0) | (flat >= classifier.vocab_size)
        first_bad = int(np.argmax(outside)) if outside.any() else None
    except OverflowError:  # an id beyond 64 bits: found the slow way, as it is refused anyway
        flat = None
        first_bad = next(
            start + p
            for start, (*_, ids) in zip(starts.tolist(), places, strict=True)
            for p, token in enumerate(ids)
            if not 0 <= token < classifier.vocab_size
        )
    if first_bad is not None:
        k = int(np.searchsorted(ends, first_bad, side="right"))
        i, j, ids = places[k]
        position = first_bad - int(starts[k])
        field = field_of(i, f"windows[{j}].input_ids")
        raise StageInputError(
            f"{field}: token id {ids[position]} at position {position} is outside the "
            f"model's vocabulary (0..{classifier.vocab_size - 1})",
            field=field,
        )
    assert flat is not None
    return [flat[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def build_output(
    job: ParsedJob,
    rows: Sequence[Sequence[float]],
    batching: BatchingInfo,
    classifier: Classifier,
    inference_ms: float,
) -> dict[str, Any]:
    """The job's InferenceOutput as plain dicts: every label per window, most probable first."""
    probs = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(classifier.labels))
    if not np.isfinite(probs).all():
        raise ModelError(
            "the model returned probabilities that are not numbers (NaN or inf); "
            "float16 can overflow: DTYPE=bfloat16 or float32 avoids it"
        )
    probs = np.clip(probs, 0.0, 1.0)
    # Stable: equal probabilities keep the model's label order, as Python's sort would.
    order = np.argsort(-probs, axis=1, kind="stable")
    ranked = zip(
        np.asarray(classifier.labels, dtype=object)[order].tolist(),
        np.take_along_axis(probs, order, axis=1).tolist(),
        strict=True,
    )
    results = []
    for windows in job.windows:
        predicted = []
        for window, (labels, confidences) in zip(windows, ranked, strict=False):
            predicted.append(
                {
                    "index": window.index,
                    "token_count": len(window.input_ids),
                    "char_start": window.char_start,
                    "char_end": window.char_end,
                    "predictions": [
                        {"label": label, "confidence": confidence}
                        for label, confidence in zip(labels, confidences, strict=True)
                    ],
                }
            )
        results.append({"windows": predicted})
    output = {
        "results": results,
        "model_info": classifier.info.model_dump(),
        "batching": batching.model_dump(),
        "inference_ms": round(inference_ms, 3),
    }
    return single_form(output) if job.single_form else output


def single_form(output: dict[str, Any]) -> dict[str, Any]:
    """A text sent on its own is answered on its own (InferenceSingleOutput): its windows, and
    its predictions over the whole text at the top level, as the pattern's clients read them."""
    [item] = output.pop("results")
    windows = [WindowPrediction.model_validate(w) for w in item["windows"]]
    predictions = [p.model_dump() for p in aggregate_windows(windows)]
    return {"predictions": predictions, "windows": item["windows"], **output}


async def infer(
    job_input: Any,
    classifier: Classifier,
    batcher: WindowBatcher,
    overlap_tokens: int,
    offload: Executor | None = None,
) -> dict[str, Any]:
    """One job, start to end: checks and output building on `offload` (the loop's default
    executor when None), the forward passes in the batcher."""
    loop = asyncio.get_running_loop()
    job = await loop.run_in_executor(offload, parse_job, job_input, classifier, overlap_tokens)
    started = time.perf_counter()
    rows, batching = await batcher.classify(job.sequences)
    inference_ms = (time.perf_counter() - started) * 1000
    return await loop.run_in_executor(
        offload, build_output, job, rows, batching, classifier, inference_ms
    )
