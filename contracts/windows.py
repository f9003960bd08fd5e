"""The window cut: where a text too long for the model is split, in token positions.

One rule for every place that cuts a text: the preprocess worker and both inference backends
(over the model's tokenizer output, worker_runtime.windows), and the benchmarks and the cost
model's measurement (over made-up token ids). It is the tokenizers library's rule for
overflowing tokens, so a window cut here is the one the library would cut.
"""


def window_stride(max_length: int, special_tokens: int, overlap_tokens: int) -> int:
    """Tokens shared by consecutive windows: the overlap asked for, at most half a window's
    text. Every cut uses it, so all of them cut a text at the same places."""
    content_tokens = max_length - special_tokens
    if content_tokens < 2:
        raise ValueError(f"max length {max_length} leaves no room for text")
    # The tokenizers library also needs it smaller than a window's content.
    return max(0, min(overlap_tokens, content_tokens // 2))


def window_spans(
    text_tokens: int, max_length: int, special_tokens: int, stride: int
) -> list[slice]:
    """Where a text of `text_tokens` tokens (special tokens not counted) is cut: windows of at
    most `max_length` tokens once `special_tokens` are added, each after the first repeating
    the `stride` text tokens before it. A text that fits is one window, an empty one included."""
    room = max_length - special_tokens
    if room < 1 or not 0 <= stride < room:
        raise ValueError(f"stride {stride} does not fit windows of {room} text tokens")
    spans, start = [], 0
    while True:
        spans.append(slice(start, min(start + room, text_tokens)))
        if start + room >= text_tokens:
            return spans
        start += room - stride
