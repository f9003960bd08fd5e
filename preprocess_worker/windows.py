"""Tokenize with the model's own tokenizer.json and split long text into overlapping windows."""

from pathlib import Path

from tokenizers import Tokenizer

from contracts import Limits, TokenizerInfo, TokenWindow
from contracts.model_source import max_sequence_length, tokenizer_fingerprint
from contracts.preprocess import window_stride


class WindowTokenizer:
    """Turns cleaned text into windows of at most `max_length` tokens, special tokens included."""

    def __init__(self, model_dir: Path, overlap_tokens: int, max_length: int | None = None):
        self.max_length = min(
            max_length or Limits.MAX_TOKENS_PER_WINDOW, max_sequence_length(model_dir)
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.fingerprint = tokenizer_fingerprint(self._tokenizer.to_str())
        self.stride = window_stride(
            self.max_length, self._tokenizer.num_special_tokens_to_add(False), overlap_tokens
        )
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
        return [
            TokenWindow.from_tokens(i, e.ids, e.offsets, e.special_tokens_mask)
            for i, e in enumerate(encodings)
        ]
