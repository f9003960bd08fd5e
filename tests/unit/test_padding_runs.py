"""A pass of mixed lengths cut into runs of similar lengths (MAX_PADDING_SHARE): the rule, and
the batcher running a pass's runs as narrower forwards, rows back in the pass's order."""

import asyncio

import pytest

from inference_worker.batcher import WindowBatcher
from inference_worker.padding import similar_length_runs
from inference_worker.settings import CPU_PADDING_SHARE, InferenceSettings


def lengths_of(runs: list[slice], lengths: list[int]) -> list[list[int]]:
    return [lengths[run] for run in runs]


def test_similar_lengths_stay_one_run():
    lengths = [10, 10, 11, 12]
    assert lengths_of(similar_length_runs(lengths, 0.2), lengths) == [lengths]


def test_a_long_row_among_short_ones_gets_its_own_run():
    # [8, 8, 9, 100] padded together: 400 tokens, 275 of them padding.
    lengths = [8, 8, 9, 100]
    assert lengths_of(similar_length_runs(lengths, 0.2), lengths) == [[8, 8, 9], [100]]


def test_each_run_keeps_padding_within_the_share():
    lengths = [3, 5, 8, 13, 21, 34, 55, 89, 144, 233]
    runs = similar_length_runs(lengths, 0.25)
    assert sum(run.stop - run.start for run in runs) == len(lengths)
    for run in runs:
        rows = lengths[run]
        padded = len(rows) * max(rows)
        assert padded - sum(rows) <= 0.25 * padded


@pytest.mark.parametrize("share", [None, 1.0])
def test_no_share_or_a_share_of_one_keeps_the_pass_whole(share):
    lengths = [1, 2, 500]
    assert lengths_of(similar_length_runs(lengths, share), lengths) == [lengths]


def test_a_share_of_zero_runs_only_equal_lengths_together():
    lengths = [4, 4, 5, 5, 5, 6]
    assert lengths_of(similar_length_runs(lengths, 0.0), lengths) == [[4, 4], [5, 5, 5], [6]]


@pytest.mark.parametrize("two_steps", [False, True], ids=["forward", "prepare-then-forward"])
def test_the_batcher_runs_a_pass_as_its_runs_and_answers_in_order(two_steps):
    forwards: list[list[int]] = []
    prepared: list[int] = []

    def prepare(sequences):
        prepared.append(len(sequences))
        return sequences

    def forward(batch):
        forwards.append([len(seq) for seq in batch])
        return [[float(len(seq))] for seq in batch]

    async def scenario():
        batcher = WindowBatcher(
            forward,
            8,
            max_batch_wait_ms=0,
            prepare=prepare if two_steps else None,
            max_padding_share=0.2,
        )
        return await batcher.classify([[1] * 100, [1] * 8, [1] * 9, [1] * 8])

    rows, info = asyncio.run(scenario())
    assert forwards == [[8, 8, 9], [100]]
    assert rows == [[100.0], [8.0], [9.0], [8.0]]
    assert info.forward_passes == 1  # one pass of the batcher, run as two forwards
    assert prepared == ([3, 1] if two_steps else [])


def test_the_cut_is_on_by_default_on_a_cpu_only():
    settings = InferenceSettings()
    assert settings.padding_share_on("cpu") == CPU_PADDING_SHARE
    assert settings.padding_share_on("cuda") is None
    assert InferenceSettings(max_padding_share=0.5).padding_share_on("cuda") == 0.5
