"""Postprocess stage (CPU): window predictions in; one formatted classification per text out."""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contracts.inference import ModelInfo, Prediction, WindowPrediction
from contracts.limits import Limits
from contracts.preprocess import TextStats
from contracts.shapes import as_batch, is_single_form
from contracts.text import UnicodeStr, require_unicode

ConfidenceLevel = Literal["high", "medium", "low"]


def confidence_level(confidence: float) -> ConfidenceLevel:
    if confidence > 0.8:
        return "high"
    if confidence > 0.5:
        return "medium"
    return "low"


class PostprocessItem(BaseModel):
    """One text's predictions: per window (pipeline path) or one list (the pattern's path)."""

    model_config = ConfigDict(extra="forbid")

    windows: list[WindowPrediction] | None = Field(default=None, min_length=1)
    predictions: list[Prediction] | None = Field(default=None, min_length=1)
    stats: TextStats | None = None
    # The pattern's fields: the text (answered back as a preview) and metadata of the
    # caller's own, carried into the result's metadata.
    original_text: UnicodeStr | None = None
    metadata: dict[UnicodeStr, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_is_unicode(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            require_unicode(json.dumps(value, ensure_ascii=False, default=str))
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> "PostprocessItem":
        if (self.windows is None) == (self.predictions is None):
            raise PydanticCustomError(
                "value_error", "Each item needs either predictions or windows, not both"
            )
        return self


class PostprocessInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PostprocessItem] = Field(min_length=1, max_length=Limits.MAX_ITEMS_PER_JOB)
    model_info: ModelInfo | None = None

    is_single_form = staticmethod(is_single_form)

    @model_validator(mode="before")
    @classmethod
    def _wrap_single_item(cls, data: Any) -> Any:
        # The pattern's form: {"predictions": [...]} (optionally with stats and model_info).
        return as_batch(data, PostprocessItem, ("model_info",)) if is_single_form(data) else data


class Classification(BaseModel):
    label: str
    confidence: float
    confidence_level: ConfidenceLevel
    all_predictions: list[Prediction]


class ResultMetadata(BaseModel):
    # A caller's own metadata keys (the pattern's /cpu/postprocess body) are kept.
    model_config = ConfigDict(extra="allow")

    word_count: int | None = None
    sentence_count: int | None = None
    char_count: int | None = None
    windows: int
    # The model's id; the pattern sends its model_info object here.
    model: str | dict[str, Any] | None = None


class ClassificationResult(BaseModel):
    classification: Classification
    metadata: ResultMetadata


class PostprocessOutput(BaseModel):
    results: list[ClassificationResult]


class PostprocessSingleOutput(ClassificationResult):
    """The answer to the pattern's single-text form: its result at the top level."""

    # The first 100 characters of original_text, when the caller sent it (the pattern's field).
    text_preview: str | None = None


def text_preview(text: str, length: int = 100) -> str:
    return text[:length] + "..." if len(text) > length else text
