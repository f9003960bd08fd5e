"""The benchmark's parts that can be wrong without being slow: no timing is asserted here
(`make benchmark` measures; this checks it measures the right thing)."""

import asyncio
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from benchmarks.backends import gpu_break_even_ms, pick_max_cpu_tokens
from benchmarks.baselines import Baseline, faster
from benchmarks.load import closed_loop, percentile
from benchmarks.plot import plot_throughput
from benchmarks.token_texts import SPECIAL_TOKENS, routed_tokens, text_tokens_for
from benchmarks.workload import SENTENCES, preprocessed, review_texts
from benchmarks.zero_cost import ZeroCostClassifier, jobs_of_windows, zero_cost_handler
from contracts import InferenceOutput
from contracts.windows import window_spans
from inference_worker.settings import InferenceSettings
from inference_worker.torch_backend import TorchClassifier
from preprocess_worker.windows import WindowTokenizer
from scripts.make_tiny_model import BASE_VOCAB_SIZE, build_tokenizer


def test_zero_cost_stand_in_has_the_classifiers_surface(tiny_model_dir: Path):
    real = TorchClassifier(tiny_model_dir, model_id="tiny", device="cpu")
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


# Backends by text length: the threshold's rule and the workload's windows ----------------


def test_threshold_is_the_largest_count_within_budget_with_every_smaller_one():
    onnx_p50_ms = {16: 10.0, 32: 20.0, 64: 45.0, 128: 60.0, 256: 40.0}
    # 256's 40 ms is noise past 128's 60 ms: the first count over the budget ends the run.
    assert pick_max_cpu_tokens(onnx_p50_ms, budget_ms=50) == 64
    assert pick_max_cpu_tokens(onnx_p50_ms, budget_ms=45) == 64  # at the budget is within
    assert pick_max_cpu_tokens(onnx_p50_ms, budget_ms=100) == 256
    assert pick_max_cpu_tokens(onnx_p50_ms, budget_ms=5) is None


def test_gpu_break_even_is_the_cpu_time_scaled_by_the_prices():
    # 50 ms at $0.0002/s costs $0.00001, as does 6.67 ms at $0.0015/s.
    assert gpu_break_even_ms(50, 0.0002, 0.0015) == pytest.approx(20 / 3)
    assert gpu_break_even_ms(30, 0.001, 0.001) == 30


@pytest.mark.parametrize("overlap", [0, 5, 16, 1000])
def test_window_spans_cut_where_the_preprocess_worker_cuts(tiny_model_dir: Path, overlap):
    splitter = WindowTokenizer(tiny_model_dir, overlap)
    text = " ".join(SENTENCES * 3)
    whole = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json")).encode(text).ids
    first, body, last = whole[0], whole[1:-1], whole[-1]
    slices = window_spans(len(body), splitter.max_length, SPECIAL_TOKENS, splitter.stride)
    assert len(slices) > 2
    assert [[first, *body[s], last] for s in slices] == [w.input_ids for w in splitter.split(text)]


def test_text_of_a_token_count_has_windows_of_that_many_tokens():
    # Base-size geometry: 512-token windows ([CLS] + 510 + [SEP]) sharing 128 tokens.
    assert text_tokens_for(16, 512, 128) == 14
    assert text_tokens_for(512, 512, 128) == 510
    # Four full windows: 510 new tokens, then 382 new ones in each of the next three.
    assert text_tokens_for(2048, 512, 128) == 510 + 3 * 382
    assert routed_tokens(510 + 3 * 382, 512, 128) == 2048
    # A second window brings 128 shared tokens: 513 to 642 tokens cannot be, 643 is next.
    assert routed_tokens(text_tokens_for(600, 512, 128), 512, 128) == 643


def test_the_faster_baseline_is_kept_with_each_batch_sizes_best():
    start = Baseline("limit", 64, 8.0, by_batch_size={1: 4.0, 4: 8.0}, best_batch_size=4)
    end = Baseline("limit", 64, 6.4, by_batch_size={4: 10.0}, best_batch_size=4)
    kept = faster(start, end)
    assert kept.texts_per_s == 10.0
    assert kept.by_batch_size == {1: 4.0, 4: 10.0}
    assert faster(end, start).texts_per_s == 10.0
    naive = faster(Baseline("naive", 30, 10.0), Baseline("naive", 20, 10.0))
    assert naive.texts == 30
