"""Token id sequences of any lengths padded into one pass's rectangular inputs, and a pass cut
into runs of similar lengths where padding would cost more than it saves."""

from collections.abc import Sequence

import numpy as np


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), both int64 of shape (sequences, longest sequence)."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    mask = np.arange(lengths.max()) < lengths[:, None]
    input_ids = np.full(mask.shape, pad_id, dtype=np.int64)
    # Boolean assignment fills row by row, left to right: the sequences' order.
    input_ids[mask] = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in sequences])
    return input_ids, mask.astype(np.int64)


def similar_length_runs(lengths: Sequence[int], max_padding_share: float | None) -> list[slice]:
    """Consecutive runs of a pass's rows, sorted shortest first, each padded to its own
    longest row: a run grows while padding stays at most `max_padding_share` of its padded
    tokens. None keeps the pass whole.

    A CPU computes every padded token, so one wide pass of mixed lengths costs more than
    several narrow passes of similar ones; an accelerator's wide pass is nearly free per row.
    """
    if max_padding_share is None or len(lengths) < 2:
        return [slice(0, len(lengths))]
    runs = []
    start = real = 0
    for index, length in enumerate(lengths):
        rows = index - start + 1
        padded = rows * length  # sorted: this row is the run's longest
        if rows > 1 and padded - (real + length) > max_padding_share * padded:
            runs.append(slice(start, index))
            start, real = index, 0
        real += length
    runs.append(slice(start, len(lengths)))
    return runs
