"""Preprocess stage (CPU): raw text in; cleaned text, counts and token windows out."""

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from contracts.limits import Limits
from contracts.text import ClassifiableText


class PreprocessInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ClassifiableText


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
