"""Token id sequences of any lengths padded into one pass's rectangular inputs."""

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
