"""Made-up texts of a given token count, cut into windows where the preprocess worker cuts
them (contracts.windows): the workload of the backends benchmark and of the cost model's
CPU inference measurement. Timings depend on how many tokens a window holds, not which."""

from itertools import count

import numpy as np

from contracts.windows import window_spans

# A BERT-style window: [CLS] text [SEP]. Ids 2 and 3 stand in for them (the random models'
# special ids are 0 to 4).
SPECIAL_TOKENS = 2
CLS_ID, SEP_ID = 2, 3
FIRST_TEXT_ID = 5


def routed_tokens(text_tokens: int, max_length: int, stride: int) -> int:
    """The tokens the orchestrator counts for such a text: every window's, special included."""
    return sum(
        s.stop - s.start + SPECIAL_TOKENS
        for s in window_spans(text_tokens, max_length, SPECIAL_TOKENS, stride)
    )


def text_tokens_for(total: int, max_length: int, stride: int) -> int:
    """The shortest text whose windows hold at least `total` tokens (exactly, unless the
    overlap makes that count impossible: a second window brings `stride` tokens along)."""
    return next(t for t in count(1) if routed_tokens(t, max_length, stride) >= total)


def text_windows(
    rng: np.random.Generator, total: int, max_length: int, stride: int, vocab_size: int
) -> list[list[int]]:
    """A random text of about `total` tokens, cut into its windows."""
    text_tokens = text_tokens_for(total, max_length, stride)
    text = rng.integers(FIRST_TEXT_ID, vocab_size, text_tokens).tolist()
    spans = window_spans(len(text), max_length, SPECIAL_TOKENS, stride)
    return [[CLS_ID, *text[s], SEP_ID] for s in spans]
