"""Inference stage (GPU): token windows (or cleaned text) in; label probabilities out."""

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.limits import Limits
from contracts.preprocess import TokenWindow
from contracts.shapes import as_batch, is_single_form
from contracts.text import UnicodeStr


class Prediction(BaseModel):
    label: UnicodeStr = Field(min_length=1)
    confidence: float

    @field_validator("confidence")
    @classmethod
    def _is_probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise PydanticCustomError("value_error", "Confidence must be between 0.0 and 1.0")
        return value


class InferenceItem(BaseModel):
    """One text: its windows from preprocess (the normal path), or cleaned text to tokenize here."""

    # Extra keys are ignored so a preprocess output can be passed through unchanged.
    model_config = ConfigDict(extra="ignore")

    windows: list[TokenWindow] | None = Field(default=None, min_length=1)
    tokenizer_fingerprint: UnicodeStr | None = None
    cleaned_text: UnicodeStr | None = None
    word_count: NonNegativeInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_preprocess_output(cls, data: Any) -> Any:
        # A PreprocessOutput carries its fingerprint under "tokenizer".
        if isinstance(data, dict) and "tokenizer_fingerprint" not in data:
            tokenizer = data.get("tokenizer")
            if isinstance(tokenizer, dict) and "fingerprint" in tokenizer:
                data = {**data, "tokenizer_fingerprint": tokenizer["fingerprint"]}
        return data

    @model_validator(mode="after")
    def _has_something_to_classify(self) -> "InferenceItem":
        if self.windows is not None:
            if not self.tokenizer_fingerprint:
                raise PydanticCustomError(
                    "value_error", "tokenizer_fingerprint is required with windows"
                )
            return self
        if self.cleaned_text is None:
            raise PydanticCustomError(
                "value_error", "Each item needs either windows or cleaned_text"
            )
        if not self.cleaned_text.strip():
            raise PydanticCustomError("value_error", "Cleaned text cannot be empty")
        if len(self.cleaned_text) > Limits.MAX_TEXT_CHARS:
            raise PydanticCustomError(
                "value_error",
                "Cleaned text too long (maximum {maximum} characters)",
                {"maximum": f"{Limits.MAX_TEXT_CHARS:,}"},
            )
        return self


class InferenceInput(BaseModel):
    """A batch of texts; a single item may also be sent on its own, as the pattern does."""

    model_config = ConfigDict(extra="forbid")

    items: list[InferenceItem] = Field(min_length=1, max_length=Limits.MAX_ITEMS_PER_JOB)

    is_single_form = staticmethod(is_single_form)

    @model_validator(mode="before")
    @classmethod
    def _wrap_single_item(cls, data: Any) -> Any:
        return as_batch(data, InferenceItem) if is_single_form(data) else data

    @model_validator(mode="after")
    def _bounded_windows(self) -> "InferenceInput":
        total = sum(len(item.windows or ()) for item in self.items)
        if total > Limits.MAX_WINDOWS_PER_JOB:
            raise PydanticCustomError(
                "too_many",
                "Too many windows in one job (maximum {maximum}). Got {got}.",
                {"maximum": f"{Limits.MAX_WINDOWS_PER_JOB:,}", "got": f"{total:,}"},
            )
        return self


class WindowPrediction(BaseModel):
    index: NonNegativeInt
    token_count: NonNegativeInt
    char_start: NonNegativeInt
    char_end: NonNegativeInt
    # Every label of the model, most probable first.
    predictions: list[Prediction] = Field(min_length=1)


class ItemPrediction(BaseModel):
    windows: list[WindowPrediction] = Field(min_length=1)


class ModelInfo(BaseModel):
    # Sent back by callers of /cpu/postprocess, hence checked like any caller's strings.
    model_id: UnicodeStr
    revision: UnicodeStr | None = None
    labels: list[UnicodeStr]
    max_length: int
    tokenizer_fingerprint: UnicodeStr
    device: UnicodeStr
    dtype: UnicodeStr
    # What runs the model: "onnxruntime" for the CPU image's ONNX backend; None is torch,
    # and left out of the output, which stays as it was before there were two backends.
    backend: UnicodeStr | None = Field(default=None, exclude_if=lambda value: value is None)


class BatchingInfo(BaseModel):
    """How this job's windows were run: evidence that concurrent jobs share forward passes."""

    forward_passes: int
    largest_batch: int
    max_jobs_in_a_pass: int


class InferenceOutput(BaseModel):
    results: list[ItemPrediction]
    model_info: ModelInfo
    batching: BatchingInfo
    inference_ms: float


class InferenceSingleOutput(BaseModel):
    """The answer to one text sent on its own (the pattern's form): its predictions over the
    whole text at the top level, as the pattern's orchestration reads them, and its windows."""

    # Every label, most probable first: the token-weighted mean over the windows, the same
    # numbers postprocess makes of them (contracts.aggregation).
    predictions: list[Prediction] = Field(min_length=1)
    windows: list[WindowPrediction] = Field(min_length=1)
    model_info: ModelInfo
    batching: BatchingInfo
    inference_ms: float
