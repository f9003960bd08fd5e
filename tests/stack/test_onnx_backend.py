"""The inference worker's CPU backend (BACKEND=onnx): ONNX Runtime on the model exported by
scripts/export_onnx.py gives the torch backend's answers, through the same handler, without
torch or transformers in the process."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from contracts import InferenceOutput, InferenceSingleOutput
from inference_worker.handler import load_classifier, make_handler
from inference_worker.onnx_backend import OnnxClassifier
from inference_worker.settings import InferenceSettings
from inference_worker.torch_backend import TorchClassifier
from worker_runtime.model_files import ModelUnavailableError

REPO_ROOT = Path(__file__).resolve().parents[2]
# The bound: the two backends agree within 1e-4 on the test model.
PARITY = 1e-4
TEXT = " ".join(f"review {i}: the food was great but the service was slow." for i in range(30))


@pytest.fixture(scope="module")
def torch_classifier(tiny_onnx_model_dir: Path) -> TorchClassifier:
    return TorchClassifier(tiny_onnx_model_dir, model_id="tiny", device="cpu")


@pytest.fixture(scope="module")
def onnx_classifier(tiny_onnx_model_dir: Path) -> OnnxClassifier:
    return OnnxClassifier(tiny_onnx_model_dir, model_id="tiny")


def random_sequences(lengths: list[int], vocab_size: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    # [CLS] ... [SEP] around random ids, as real windows are.
    return [[2, *rng.integers(5, vocab_size, n - 2).tolist(), 3] for n in lengths]


@pytest.mark.parametrize("lengths", [[2], [16], [5, 17, 9], [64, 3, 33, 48, 2, 64], [8] * 8])
def test_onnx_probabilities_match_torch_within_1e_4(torch_classifier, onnx_classifier, lengths):
    sequences = random_sequences(lengths, onnx_classifier.vocab_size, seed=len(lengths))
    expected = np.asarray(torch_classifier.probabilities(sequences))
    got = np.asarray(onnx_classifier.probabilities(sequences))
    assert got.shape == expected.shape == (len(lengths), len(onnx_classifier.labels))
    np.testing.assert_allclose(got, expected, rtol=0, atol=PARITY)
    # A window's answer does not depend on the pass it shares (padding is masked out).
    alone = np.asarray([onnx_classifier.probabilities([seq])[0] for seq in sequences])
    np.testing.assert_allclose(got, alone, rtol=0, atol=PARITY)


def test_onnx_model_describes_the_same_model(torch_classifier, onnx_classifier):
    assert onnx_classifier.labels == torch_classifier.labels
    assert onnx_classifier.vocab_size == torch_classifier.vocab_size
    assert onnx_classifier.max_length == torch_classifier.max_length
    # The tokenizer check preprocess relies on: the same fingerprint from tokenizer.json alone.
    assert onnx_classifier.fingerprint == torch_classifier.fingerprint
    info = onnx_classifier.info
    assert (info.device, info.dtype, info.backend) == ("cpu", "float32", "onnxruntime")
    assert torch_classifier.info.backend is None
    assert "backend" not in torch_classifier.info.model_dump()  # torch's output unchanged
    assert info.model_dump(exclude={"backend"}) == torch_classifier.info.model_dump(
        exclude={"backend"}
    )


@pytest.mark.parametrize("overlap", [0, 16])
def test_onnx_split_text_cuts_the_same_windows(torch_classifier, onnx_classifier, overlap):
    expected = torch_classifier.split_text(TEXT, overlap)
    assert len(expected) > 1
    assert onnx_classifier.split_text(TEXT, overlap) == expected


def call(handler, *inputs):
    async def run():
        return await asyncio.gather(
            *(handler({"id": f"job-{i}", "input": job}) for i, job in enumerate(inputs))
        )

    return asyncio.run(run())


def assert_same_answers(onnx_result: dict, torch_result: dict) -> None:
    """Same keys and labels in the same order; confidences within PARITY."""
    if isinstance(torch_result, dict):
        assert isinstance(onnx_result, dict) and onnx_result.keys() == torch_result.keys()
        for key, value in torch_result.items():
            if key in {"inference_ms", "model_info", "batching"}:
                continue
            assert_same_answers(onnx_result[key], value)
    elif isinstance(torch_result, list):
        assert isinstance(onnx_result, list) and len(onnx_result) == len(torch_result)
        for got, expected in zip(onnx_result, torch_result, strict=True):
            assert_same_answers(got, expected)
    elif isinstance(torch_result, float):
        assert onnx_result == pytest.approx(torch_result, abs=PARITY)
    else:
        assert onnx_result == torch_result


def test_handler_with_the_onnx_backend_answers_the_same_contract(torch_classifier, onnx_classifier):
    settings = InferenceSettings(backend="onnx", max_batch_wait_ms=5)
    sequences = random_sequences([10, 64, 3], onnx_classifier.vocab_size)
    batch_job = {
        "items": [
            {
                "tokenizer_fingerprint": onnx_classifier.fingerprint,
                "windows": [
                    {"index": i, "input_ids": ids, "char_start": 0, "char_end": 4}
                    for i, ids in enumerate(sequences)
                ],
            }
        ]
    }
    text_job = {"cleaned_text": TEXT, "word_count": len(TEXT.split())}
    bad_job = {"cleaned_text": 5}
    onnx_answers = call(make_handler(onnx_classifier, settings), batch_job, text_job, bad_job)
    torch_answers = call(make_handler(torch_classifier, settings), batch_job, text_job, bad_job)
    batch, single, bad = onnx_answers
    InferenceOutput.model_validate(batch)
    InferenceSingleOutput.model_validate(single)
    assert batch["model_info"]["backend"] == "onnxruntime"
    # The same batcher as the torch backend: each job says how its windows were run.
    assert single["batching"]["forward_passes"] >= 1
    assert bad["error"] == torch_answers[2]["error"]
    for got, expected in zip(onnx_answers[:2], torch_answers[:2], strict=True):
        assert_same_answers(got, expected)


def test_onnx_backend_needs_the_exported_model(tiny_model_dir: Path):
    settings = InferenceSettings(backend="onnx", model_id=str(tiny_model_dir))
    with pytest.raises(ModelUnavailableError, match=r"lacks model\.onnx"):
        load_classifier(settings)


def test_onnx_backend_never_imports_torch_or_transformers(tiny_onnx_model_dir: Path):
    """The handler loads and runs the ONNX model in a fresh process: neither library loads."""
    code = (
        "import json, sys\n"
        "from inference_worker.handler import load_classifier\n"
        "from inference_worker.settings import InferenceSettings\n"
        f"settings = InferenceSettings(backend='onnx', model_id={str(tiny_onnx_model_dir)!r})\n"
        "classifier = load_classifier(settings)\n"
        "classifier.probabilities([[2, 7, 3]])\n"
        "classifier.split_text('a good movie', 16)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "onnxruntime" in loaded
    assert not loaded & {"torch", "transformers"}
