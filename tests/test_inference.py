"""Inference logic on a real (tiny) transformers model: windows, refusals, batching."""

import asyncio
import threading
from pathlib import Path

import pytest

from contracts import InferenceOutput
from contracts.worker_result import StageInputError
from inference_worker.batcher import WindowBatcher
from inference_worker.engine import infer
from inference_worker.model import Classifier
from preprocess_worker.pipeline import preprocess
from preprocess_worker.windows import WindowTokenizer


@pytest.fixture(scope="module")
def classifier(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, model_id="tiny", device="cpu")


@pytest.fixture(scope="module")
def window_tokenizer(tiny_model_dir: Path) -> WindowTokenizer:
    return WindowTokenizer(tiny_model_dir, overlap_tokens=16)


def run_infer(job_input, classifier, batcher=None) -> InferenceOutput:
    batcher = batcher or WindowBatcher(classifier.probabilities, 8, 1.0)
    output = asyncio.run(infer(job_input, classifier, batcher, overlap_tokens=16))
    return InferenceOutput.model_validate(output)


def test_model_info_comes_from_the_model(classifier, window_tokenizer):
    assert classifier.labels == ["NEGATIVE", "POSITIVE"]
    assert classifier.max_length == 64
    assert classifier.fingerprint == window_tokenizer.fingerprint
    assert (classifier.info.device, classifier.info.dtype) == ("cpu", "float32")


def test_preprocessed_windows_are_classified(classifier, window_tokenizer):
    pre = preprocess({"text": "The food was great and the service was fast."}, window_tokenizer)
    output = run_infer({"items": [pre.model_dump()]}, classifier)
    [window] = output.results[0].windows
    assert window.token_count == len(pre.windows[0].input_ids)
    assert {p.label for p in window.predictions} == {"NEGATIVE", "POSITIVE"}
    assert window.predictions[0].confidence >= window.predictions[1].confidence
    assert sum(p.confidence for p in window.predictions) == pytest.approx(1, abs=1e-6)


def test_cleaned_text_is_tokenized_into_the_same_windows_preprocess_makes(
    classifier, window_tokenizer
):
    text = " ".join(f"item {i} was bad but the price was fine." for i in range(40))
    pre = preprocess({"text": text}, window_tokenizer)
    assert classifier.split_text(pre.cleaned_text, 16) == pre.windows
    from_text = run_infer({"cleaned_text": pre.cleaned_text, "word_count": 1}, classifier)
    from_windows = run_infer(pre.model_dump(), classifier)
    for a, b in zip(from_text.results[0].windows, from_windows.results[0].windows, strict=True):
        assert a.predictions[0].confidence == pytest.approx(b.predictions[0].confidence, abs=1e-5)


def test_batched_probabilities_equal_one_at_a_time(classifier):
    sequences = [[2, 50, 60, 3], [2, 70, 3], [2, 10, 20, 30, 40, 50, 3]]
    together = classifier.probabilities(sequences)
    for seq, row in zip(sequences, together, strict=True):
        assert row == pytest.approx(classifier.probabilities([seq])[0], abs=1e-5)


def test_a_foreign_tokenizer_is_refused_by_name(classifier):
    window = {"index": 0, "input_ids": [2, 50, 3], "char_start": 0, "char_end": 4}
    with pytest.raises(StageInputError, match="does not match this model's tokenizer"):
        run_infer({"windows": [window], "tokenizer_fingerprint": "sha256:other"}, classifier)


def test_windows_the_model_cannot_take_are_refused(classifier):
    fingerprint = classifier.fingerprint
    too_long = {"index": 0, "input_ids": [2] * 65, "char_start": 0, "char_end": 4}
    with pytest.raises(StageInputError, match="has 65 tokens; the model accepts at most 64"):
        run_infer({"windows": [too_long], "tokenizer_fingerprint": fingerprint}, classifier)
    unknown = {"index": 0, "input_ids": [2, 99_999, 3], "char_start": 0, "char_end": 4}
    with pytest.raises(StageInputError, match="outside the model's vocabulary"):
        run_infer({"windows": [unknown], "tokenizer_fingerprint": fingerprint}, classifier)


def test_concurrent_jobs_share_length_sorted_forward_passes():
    passes: list[list[int]] = []
    lock = threading.Lock()

    def forward(batch: list[list[int]]) -> list[list[float]]:
        with lock:
            passes.append([len(seq) for seq in batch])
        return [[float(len(seq)), float(seq[0])] for seq in batch]

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=4, max_batch_wait_ms=50)
        jobs = [[[j] * (j + 2), [j] * 1] for j in range(3)]  # 3 jobs, 2 windows each
        return jobs, await asyncio.gather(*(batcher.classify(job) for job in jobs))

    jobs, results = asyncio.run(scenario())
    # Six windows from three jobs: two passes of at most four, shortest first.
    assert passes == [[1, 1, 1, 2], [3, 4]]
    for job, (rows, info) in zip(jobs, results, strict=True):
        assert rows == [[float(len(seq)), float(seq[0])] for seq in job]  # back in order
        assert info.max_jobs_in_a_pass >= 2
        assert info.largest_batch <= 4


def test_a_failed_forward_pass_fails_its_jobs_and_not_the_batcher():
    calls = 0

    def forward(batch):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("CUDA out of memory")
        return [[0.5, 0.5] for _ in batch]

    async def scenario():
        batcher = WindowBatcher(forward, max_batch_size=8, max_batch_wait_ms=0)
        with pytest.raises(RuntimeError):
            await batcher.classify([[1, 2]])
        return await batcher.classify([[1, 2]])

    rows, _ = asyncio.run(scenario())
    assert rows == [[0.5, 0.5]]
