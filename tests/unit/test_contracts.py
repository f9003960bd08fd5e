"""The contracts: validation rules and the exact messages users see."""

import pytest
from pydantic import ValidationError

from contracts import (
    ClassifyRequest,
    InferenceInput,
    Limits,
    PostprocessInput,
    PreprocessInput,
    confidence_level,
    describe_validation_error,
)


def message(model, data) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe_validation_error(info.value)[0]


@pytest.mark.parametrize("model", [ClassifyRequest, PreprocessInput])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Text cannot be empty"),
        ("   \n\t ", "Text cannot be empty"),
        ("\x00\x01\u200b ", "Text cannot be empty"),
        ("ab", "Text too short (minimum 3 characters)"),
        ("  ab  ", "Text too short (minimum 3 characters)"),
        ("x" * 10_001, "Text too long (maximum 10,000 characters). Got 10001 characters."),
    ],
)
def test_text_rules(model, text, expected):
    assert message(model, {"text": text}) == expected


def test_text_at_the_limits_is_accepted():
    assert ClassifyRequest(text="abc").text == "abc"
    assert len(ClassifyRequest(text="y" * Limits.MAX_TEXT_CHARS).text) == 10_000


def test_missing_and_unknown_fields_are_named():
    assert message(ClassifyRequest, {}) == "text: Field required"
    assert message(ClassifyRequest, {"text": "hello", "txt": 1}) == (
        "txt: Extra inputs are not permitted"
    )
    assert message(ClassifyRequest, {"text": 5}) == "text: Input should be a valid string"


def test_inference_accepts_the_patterns_single_text():
    request = InferenceInput.model_validate({"cleaned_text": "good movie", "word_count": 2})
    assert request.items[0].cleaned_text == "good movie"


def test_inference_refuses_empty_cleaned_text_and_negative_word_count():
    assert message(InferenceInput, {"cleaned_text": " ", "word_count": 1}) == (
        "Cleaned text cannot be empty"
    )
    assert "greater than or equal to 0" in message(
        InferenceInput, {"cleaned_text": "fine", "word_count": -1}
    )


def test_inference_windows_need_a_fingerprint():
    window = {"index": 0, "input_ids": [1, 2], "char_start": 0, "char_end": 3}
    assert message(InferenceInput, {"windows": [window]}) == (
        "tokenizer_fingerprint is required with windows"
    )


def test_inference_accepts_a_preprocess_output_unchanged():
    window = {"index": 0, "input_ids": [1, 2], "char_start": 0, "char_end": 3}
    item = {
        "cleaned_text": "abc",
        "word_count": 1,
        "sentence_count": 1,
        "char_count": 3,
        "windows": [window],
        "tokenizer": {"fingerprint": "sha256:x", "max_length": 8, "stride": 2},
    }
    assert InferenceInput.model_validate({"items": [item]}).items[0].tokenizer_fingerprint == (
        "sha256:x"
    )


def test_postprocess_refuses_strings_and_out_of_range_confidence():
    assert "valid dictionary" in message(PostprocessInput, {"predictions": ["string"]})
    assert message(
        PostprocessInput, {"predictions": [{"label": "POSITIVE", "confidence": 1.5}]}
    ) == ("Confidence must be between 0.0 and 1.0")
    assert message(
        PostprocessInput, {"predictions": [{"label": "POSITIVE", "confidence": -0.1}]}
    ) == ("Confidence must be between 0.0 and 1.0")


@pytest.mark.parametrize(
    ("confidence", "level"),
    [(0.81, "high"), (0.8, "medium"), (0.51, "medium"), (0.5, "low"), (0.0, "low")],
)
def test_confidence_levels(confidence, level):
    assert confidence_level(confidence) == level
