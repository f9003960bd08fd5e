"""The preprocess worker's tokenizer: the model's own tokenizer.json, cutting cleaned text
into overlapping windows (worker_runtime.windows) with this worker's settings."""

from pathlib import Path

from contracts import Limits, TokenizerInfo, TokenWindow
from worker_runtime.model_files import max_sequence_length
from worker_runtime.windows import TextWindower


class WindowTokenizer:
    """Turns cleaned text into windows of at most `max_length` tokens, special tokens included."""

    def __init__(self, model_dir: Path, overlap_tokens: int, max_length: int | None = None):
        self.max_length = min(
            max_length or Limits.MAX_TOKENS_PER_WINDOW, max_sequence_length(model_dir)
        )
        self._windower = TextWindower.from_model_dir(model_dir, self.max_length)
        self.fingerprint = self._windower.fingerprint
        self.stride = self._windower.stride_for(overlap_tokens)

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(
            fingerprint=self.fingerprint, max_length=self.max_length, stride=self.stride
        )

    def split(self, cleaned_text: str) -> list[TokenWindow]:
        return self._windower.split(cleaned_text, self.stride)
