"""Inference logic on a real (tiny) transformers model: windows, refusals, batching."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from contracts import InferenceInput, InferenceOutput, InferenceSingleOutput, ItemPrediction
from contracts.aggregation import aggregate_windows
from inference_worker.batcher import WindowBatcher
from inference_worker.precision import PrecisionError, resolve_dtype
from inference_worker.stage import infer
from inference_worker.torch_backend import TorchClassifier
from preprocess_worker.stage import preprocess
from preprocess_worker.windows import WindowTokenizer
from worker_runtime.errors import StageInputError


@pytest.fixture(scope="module")
def classifier(tiny_model_dir: Path) -> TorchClassifier:
    return TorchClassifier(tiny_model_dir, model_id="tiny", device="cpu")


@pytest.fixture(scope="module")
def window_tokenizer(tiny_model_dir: Path) -> WindowTokenizer:
    return WindowTokenizer(tiny_model_dir, overlap_tokens=16)


def run_infer(job_input, classifier, batcher=None) -> InferenceOutput:
    """The job's output, as the items form whichever form it was sent in."""
    batcher = batcher or WindowBatcher(classifier.probabilities, 8, 1.0)
    output = asyncio.run(infer(job_input, classifier, batcher, overlap_tokens=16))
    if InferenceInput.is_single_form(job_input):
        single = InferenceSingleOutput.model_validate(output)
        return InferenceOutput(
            results=[ItemPrediction(windows=single.windows)],
            **single.model_dump(exclude={"predictions", "windows"}),
        )
    return InferenceOutput.model_validate(output)


def test_one_text_sent_alone_is_answered_with_its_predictions_at_the_top_level(
    classifier, window_tokenizer
):
    # The pattern's body, as its orchestration sends it; it reads gpu_result["predictions"].
    text = " ".join(f"item {i} was bad but the price was fine." for i in range(40))
    batcher = WindowBatcher(classifier.probabilities, 8, 1.0)
    job = {"cleaned_text": text, "word_count": 1}
    output = asyncio.run(infer(job, classifier, batcher, overlap_tokens=16))
    single = InferenceSingleOutput.model_validate(output)
    assert len(single.windows) > 1
    # The same numbers postprocess makes of the windows: one rule for both.
    assert single.predictions == aggregate_windows(single.windows)
    assert sum(p.confidence for p in single.predictions) == pytest.approx(1, abs=1e-6)


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


def test_the_output_matches_the_contract_exactly(classifier, window_tokenizer):
    pre = preprocess({"text": "Great screen, awful battery."}, window_tokenizer)
    job = {"items": [pre.model_dump(), {"cleaned_text": "Fine.", "word_count": 1}]}
    output = asyncio.run(
        infer(job, classifier, WindowBatcher(classifier.probabilities, 8, 0), overlap_tokens=16)
    )
    assert InferenceOutput.model_validate(output).model_dump() == output
    assert output["model_info"] == classifier.info.model_dump()


def test_padded_passes_equal_the_model_on_each_sequence_alone(classifier):
    sequences = [[2, 50, 60, 3], np.array([2, 70, 3]), [2, 10, 20, 30, 40, 50, 3]]
    batch = classifier.prepare(sequences)
    assert batch.input_ids.tolist() == [
        [2, 50, 60, 3, 0, 0, 0],
        [2, 70, 3, 0, 0, 0, 0],
        [2, 10, 20, 30, 40, 50, 3],
    ]
    assert batch.attention_mask.sum(dim=1).tolist() == [4, 3, 7]
    together = classifier.run_prepared(batch)
    for seq, row in zip(sequences, together, strict=True):
        assert row == pytest.approx(classifier.probabilities([list(seq)])[0], abs=1e-5)


def test_dtype_defaults_to_float32_on_cpu_and_refuses_float16_there():
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(PrecisionError, match="float16 runs only on a GPU; on cpu use bfloat16"):
        resolve_dtype("float16", cpu)


@pytest.fixture(scope="module")
def well_scaled_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model re-drawn with weights of std 0.2. The suite's tiny model (std 0.5) is
    chaotic on purpose, to make float32 parity tests sharp: there, rounding to bfloat16 moves
    logits by up to half their spread, which says nothing about a real model."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    out = tmp_path_factory.mktemp("well-scaled-model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (out / name).write_bytes((tiny_model_dir / name).read_bytes())
    config = DistilBertConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).eval().save_pretrained(out)
    return out


def test_bfloat16_on_cpu_matches_float32_within_its_precision(well_scaled_model_dir):
    exact = TorchClassifier(well_scaled_model_dir, model_id="tiny", device="cpu")
    half = TorchClassifier(well_scaled_model_dir, model_id="tiny", device="cpu", dtype="bfloat16")
    assert (half.info.dtype, exact.info.dtype) == ("bfloat16", "float32")
    rng = np.random.default_rng(0)
    sequences = [
        rng.integers(5, exact.vocab_size, size=rng.integers(3, exact.max_length + 1)).tolist()
        for _ in range(200)
    ]
    p32 = np.array(exact.probabilities(sequences))
    p16 = np.array(half.probabilities(sequences))
    assert p32[:, 1].std() > 0.1  # the model's answers differ from text to text
    # bfloat16 keeps 8 significant bits: each rounding is off by up to 2**-8 (0.4 %). A
    # two-label softmax moves at most 1/4 as fast as the logit margin, so 0.02 allows a
    # margin error of 0.08, about 20 roundings' worth on a margin of order 1 (measured: 0.006).
    assert np.abs(p32 - p16).max() < 0.02
    clear = np.abs(p32[:, 1] - p32[:, 0]) > 0.04
    assert (p32.argmax(axis=1) == p16.argmax(axis=1))[clear].all()
