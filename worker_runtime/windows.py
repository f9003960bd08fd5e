"""A text cut into the model's windows by the model's own tokenizer (the tokenizers library).

The preprocess worker and both inference backends cut with this, where contracts.windows
says: the text is tokenized whole, cut into spans of token positions, and each span wrapped
in the special tokens the tokenizer puts around one text ([CLS] ... [SEP] for BERT).
"""

from pathlib import Path

from tokenizers import Tokenizer

from contracts.preprocess import TokenWindow
from contracts.windows import window_spans, window_stride
from worker_runtime.model_files import tokenizer_fingerprint


def _special_ends(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one text, read from its post-processor."""
    # A string, not a pre-tokenized list: the library reads lists through numpy, which the
    # preprocess image does not hold.
    content = tokenizer.encode("a", add_special_tokens=False)
    whole = tokenizer.post_process(content)
    positions = [i for i, sequence in enumerate(whole.sequence_ids) if sequence is not None]
    if not positions:
        raise ValueError("cannot tell where the tokenizer puts its special tokens")
    return whole.ids[: positions[0]], whole.ids[positions[-1] + 1 :]


class TextWindower:
    """Cuts text into windows of at most `max_length` tokens, special tokens included."""

    def __init__(self, tokenizer: Tokenizer, max_length: int):
        # A copy that never truncates or pads: the cut is contracts.windows', not a setting
        # of the tokenizer, so one windower serves any overlap from several threads at once.
        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.fingerprint = tokenizer_fingerprint(self._tokenizer.to_str())
        self.max_length = max_length
        self.special_tokens = self._tokenizer.num_special_tokens_to_add(False)
        self._prefix, self._suffix = _special_ends(self._tokenizer)

    @classmethod
    def from_model_dir(cls, model_dir: Path, max_length: int) -> "TextWindower":
        return cls(Tokenizer.from_file(str(model_dir / "tokenizer.json")), max_length)

    def stride_for(self, overlap_tokens: int) -> int:
        return window_stride(self.max_length, self.special_tokens, overlap_tokens)

    def split(self, text: str, stride: int) -> list[TokenWindow]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        ids, offsets, special = encoding.ids, encoding.offsets, encoding.special_tokens_mask
        ends = [(0, 0)] * len(self._prefix), [(0, 0)] * len(self._suffix)
        return [
            TokenWindow.from_tokens(
                index,
                [*self._prefix, *ids[span], *self._suffix],
                [*ends[0], *offsets[span], *ends[1]],
                [*(1 for _ in self._prefix), *special[span], *(1 for _ in self._suffix)],
            )
            for index, span in enumerate(
                window_spans(len(ids), self.max_length, self.special_tokens, stride)
            )
        ]

    def split_with_overlap(self, text: str, overlap_tokens: int) -> list[TokenWindow]:
        return self.split(text, self.stride_for(overlap_tokens))
