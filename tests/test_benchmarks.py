"""The benchmark's parts that can be wrong without being slow: no timing is asserted here
(`make benchmark` measures; this checks it measures the right thing)."""

import asyncio
from pathlib import Path

import pytest

from benchmarks.load import closed_loop, percentile
from benchmarks.plot import plot_throughput
from benchmarks.workload import SENTENCES, preprocessed, review_texts
from benchmarks.zero_cost import ZeroCostClassifier, jobs_of_windows, zero_cost_handler
from contracts import InferenceOutput
from inference_worker.model import Classifier
from inference_worker.settings import InferenceSettings
from scripts.make_tiny_model import BASE_VOCAB_SIZE, build_tokenizer


def test_zero_cost_stand_in_has_the_classifiers_surface(tiny_model_dir: Path):
    real = Classifier(tiny_model_dir, model_id="tiny", device="cpu")
    stand_in = ZeroCostClassifier(tiny_model_dir)
    assert stand_in.labels == real.labels
    assert stand_in.vocab_size == real.vocab_size
    assert stand_in.max_length == real.max_length
    assert stand_in.fingerprint == real.fingerprint
    assert stand_in.info.tokenizer_fingerprint == real.info.tokenizer_fingerprint
    text = " ".join(SENTENCES)
    assert stand_in.split_text(text, 16) == real.split_text(text, 16)
    assert stand_in.probabilities([[2, 7, 3], [2, 3]]) == [[0.5, 0.5], [0.5, 0.5]]


def test_zero_cost_handler_answers_jobs_of_exactly_the_asked_windows(tiny_model_dir: Path):
    texts = preprocessed(review_texts(count=8), tiny_model_dir)
    jobs = jobs_of_windows(texts, windows_per_job=16, count=3)
    handler = zero_cost_handler(tiny_model_dir, InferenceSettings(model_id=str(tiny_model_dir)))

    async def run_all():
        return await asyncio.gather(
            *(handler({"id": str(i), "input": j}) for i, j in enumerate(jobs))
        )

    for job, answer in zip(jobs, asyncio.run(run_all()), strict=True):
        output = InferenceOutput.model_validate(answer)
        assert sum(len(item.windows) for item in output.results) == 16
        assert len(output.results) == len(job["items"])


def test_workload_is_fixed_and_mixes_short_and_long_reviews():
    texts = review_texts()
    assert texts == review_texts()
    assert len(set(texts)) > len(texts) * 0.9
    lengths = sorted(len(text) for text in texts)
    assert lengths[-1] > 5 * lengths[len(lengths) // 2]


def test_base_tokenizer_has_the_default_models_vocabulary_size():
    tokenizer = build_tokenizer(BASE_VOCAB_SIZE)
    assert tokenizer.get_vocab_size() == BASE_VOCAB_SIZE
    # Review words are whole tokens, not letters: about as many tokens as a real tokenizer.
    words = SENTENCES[0].split()
    assert len(tokenizer.encode(SENTENCES[0]).ids) < 1.5 * len(words)


def test_closed_loop_stops_at_its_count_or_its_time():
    async def instant(index: int) -> int:
        await asyncio.sleep(0)
        return index

    by_count = asyncio.run(closed_loop(instant, concurrency=4, max_calls=10, max_seconds=60))
    assert sorted(by_count.results) == list(range(10))
    assert by_count.bounded_by == "count"
    by_time = asyncio.run(closed_loop(instant, concurrency=4, max_calls=10, max_seconds=0))
    assert (by_time.results, by_time.bounded_by) == ([], "time")


@pytest.mark.parametrize(("q", "expected"), [(0.0, 1), (0.5, 3), (0.95, 5), (1.0, 5)])
def test_percentile_is_nearest_rank(q, expected):
    assert percentile([5, 1, 4, 2, 3], q) == expected


def test_plot_writes_a_png(tmp_path: Path):
    out = plot_throughput([1, 16, 64], [3.0, 9.0, 10.0], 4.0, 11.0, "test", tmp_path / "t.png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
