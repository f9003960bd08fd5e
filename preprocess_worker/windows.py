"""Tokenize with the model's own tokenizer.json and split long text into overlapping windows."""

from pathlib import Path

from tokenizers import Encoding, Tokenizer

from contracts import Limits, TokenizerInfo, TokenWindow
from contracts.model_source import max_sequence_length, tokenizer_fingerprint


class WindowTokenizer:
    """Turns cleaned text into windows of at most `max_length` tokens, special tokens included."""

    def __init__(self, model_dir: Path, overlap_tokens: int, max_length: int | None = None):
        self.max_length = min(
            max_length or Limits.MAX_TOKENS_PER_WINDOW, max_sequence_length(model_dir)
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.fingerprint = tokenizer_fingerprint(self._tokenizer.to_str())
        content_tokens = self.max_length - self._tokenizer.num_special_tokens_to_add(False)
        if content_tokens < 2:
            raise ValueError(f"max length {self.max_length} leaves no room for text")
        # The tokenizers library needs the overlap to be smaller than a window's content.
        self.stride = max(0, min(overlap_tokens, content_tokens // 2))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_length, stride=self.stride)

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(
            fingerprint=self.fingerprint, max_length=self.max_length, stride=self.stride
        )

    def split(self, cleaned_text: str) -> list[TokenWindow]:
        first = self._tokenizer.encode(cleaned_text)
        encodings = [first, *first.overflowing]
        return [_to_window(i, encoding) for i, encoding in enumerate(encodings)]


def _to_window(index: int, encoding: Encoding) -> TokenWindow:
    spans = [
        span
        for span, special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
        if not special
    ]
    return TokenWindow(
        index=index,
        input_ids=encoding.ids,
        char_start=spans[0][0] if spans else 0,
        char_end=spans[-1][1] if spans else 0,
    )
