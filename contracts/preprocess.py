"""Preprocess stage (CPU): raw text in; cleaned text, counts and token windows out."""

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from contracts.errors import WorkerError
from contracts.limits import Limits
from contracts.text import ClassifiableText


class PreprocessInput(BaseModel):
    """One text, the pattern's form."""

    model_config = ConfigDict(extra="forbid")

    text: ClassifiableText


class PreprocessBatchInput(BaseModel):
    """Many texts in one job, so a batch (or concurrent requests) pays Runpod's per-job cost
    once. Each item is validated on its own: a bad one fails alone, not its neighbours."""

    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(min_length=1, max_length=Limits.MAX_ITEMS_PER_JOB)


class TokenWindow(BaseModel):
    """A slice of the text that fits the model, with its token ids and where it came from."""

    index: NonNegativeInt
    input_ids: list[int] = Field(min_length=1, max_length=Limits.MAX_TOKENS_PER_WINDOW)
    # Character span in cleaned_text, end exclusive.
    char_start: NonNegativeInt
    char_end: NonNegativeInt

    @model_validator(mode="after")
    def _span_is_ordered(self) -> "TokenWindow":
        if self.char_end < self.char_start:
            raise ValueError("char_end must not be before char_start")
        return self

    @classmethod
    def from_tokens(
        cls,
        index: int,
        input_ids: Sequence[int],
        offsets: Sequence[tuple[int, int]],
        special_tokens_mask: Sequence[int],
    ) -> "TokenWindow":
        """A window from a tokenizer's output: its span runs from its first text token to
        its last (special tokens have no place in the text)."""
        spans = [
            span for span, special in zip(offsets, special_tokens_mask, strict=True) if not special
        ]
        return cls(
            index=index,
            input_ids=list(input_ids),
            char_start=spans[0][0] if spans else 0,
            char_end=spans[-1][1] if spans else 0,
        )


class TokenizerInfo(BaseModel):
    # Identifies the exact tokenizer.json; the inference worker refuses ids made by another one.
    fingerprint: str
    max_length: int
    stride: int


class TextStats(BaseModel):
    word_count: NonNegativeInt
    sentence_count: NonNegativeInt
    char_count: NonNegativeInt


class PreprocessOutput(TextStats):
    cleaned_text: str
    windows: list[TokenWindow]
    tokenizer: TokenizerInfo


class PreprocessBatchOutput(BaseModel):
    """One entry per item, in order: its output, or the typed error that failed it alone."""

    results: list[PreprocessOutput | WorkerError]
