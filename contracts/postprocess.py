"""Postprocess stage (CPU): window predictions in; one formatted classification per text out."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from contracts.inference import LabelScore, ModelInfo, WindowPrediction
from contracts.limits import Limits
from contracts.preprocess import TextStats

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
    predictions: list[LabelScore] | None = Field(default=None, min_length=1)
    stats: TextStats | None = None

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

    @model_validator(mode="before")
    @classmethod
    def _wrap_single_item(cls, data: Any) -> Any:
        # The pattern's form: {"predictions": [...]} (optionally with stats and model_info).
        if isinstance(data, dict) and "items" not in data:
            model_info = data.get("model_info")
            item = {k: v for k, v in data.items() if k != "model_info"}
            # Validated alone first, so errors name the sender's fields, not "items[0]".
            PostprocessItem.model_validate(item)
            return {"items": [item], "model_info": model_info}
        return data


class Classification(BaseModel):
    label: str
    confidence: float
    confidence_level: ConfidenceLevel
    all_predictions: list[LabelScore]


class ResultMetadata(BaseModel):
    word_count: int | None = None
    sentence_count: int | None = None
    char_count: int | None = None
    windows: int
    model: str | None = None


class ClassificationResult(BaseModel):
    classification: Classification
    metadata: ResultMetadata


class PostprocessOutput(BaseModel):
    results: list[ClassificationResult]
