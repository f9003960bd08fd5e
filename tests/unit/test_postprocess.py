"""Postprocess logic: token-weighted aggregation and the formatted result."""

import pytest
from pydantic import ValidationError

from contracts import describe_validation_error
from contracts.errors import InputRuleError
from postprocess_worker.stage import postprocess


def window(index, token_count, positive):
    return {
        "index": index,
        "token_count": token_count,
        "char_start": 0,
        "char_end": 10,
        "predictions": [
            {"label": "POSITIVE", "confidence": positive},
            {"label": "NEGATIVE", "confidence": 1 - positive},
        ],
    }


def test_the_patterns_single_prediction_list():
    output = postprocess(
        {
            "predictions": [
                {"label": "NEGATIVE", "confidence": 0.3},
                {"label": "POSITIVE", "confidence": 0.7},
            ],
            "stats": {"word_count": 3, "sentence_count": 1, "char_count": 14},
        }
    )
    # The pattern's form in, the pattern's form out: the result at the top level.
    result = output
    assert output.text_preview is None
    assert result.classification.label == "POSITIVE"
    assert result.classification.confidence == 0.7
    assert result.classification.confidence_level == "medium"
    assert [p.label for p in result.classification.all_predictions] == ["POSITIVE", "NEGATIVE"]
    assert result.metadata.model_dump() == {
        "word_count": 3,
        "sentence_count": 1,
        "char_count": 14,
        "windows": 1,
        "model": None,
    }


def test_windows_are_averaged_by_token_count():
    # 30 tokens at 0.9 and 10 tokens at 0.1: (27 + 1) / 40 = 0.7
    output = postprocess({"items": [{"windows": [window(0, 30, 0.9), window(1, 10, 0.1)]}]})
    [result] = output.results
    assert result.classification.label == "POSITIVE"
    assert result.classification.confidence == pytest.approx(0.7)
    assert result.metadata.windows == 2
    assert sum(p.confidence for p in result.classification.all_predictions) == pytest.approx(1)


def test_a_batch_keeps_its_order_and_names_the_model():
    model_info = {
        "model_id": "some/model",
        "labels": ["NEGATIVE", "POSITIVE"],
        "max_length": 512,
        "tokenizer_fingerprint": "sha256:x",
        "device": "cpu",
        "dtype": "float32",
    }
    items = [{"windows": [window(0, 5, p)]} for p in (0.95, 0.1, 0.6)]
    output = postprocess({"items": items, "model_info": model_info})
    assert [r.classification.label for r in output.results] == ["POSITIVE", "NEGATIVE", "POSITIVE"]
    assert [r.classification.confidence_level for r in output.results] == ["high", "high", "medium"]
    assert {r.metadata.model for r in output.results} == {"some/model"}


def test_inconsistent_predictions_are_refused_with_a_reason():
    with pytest.raises(InputRuleError, match="Duplicate label 'A'"):
        postprocess(
            {"predictions": [{"label": "A", "confidence": 0.5}, {"label": "A", "confidence": 0.5}]}
        )
    other = window(1, 5, 0.5)
    other["predictions"][1]["label"] = "NEUTRAL"
    with pytest.raises(InputRuleError, match="Window 1 has labels"):
        postprocess({"items": [{"windows": [window(0, 5, 0.5), other]}]})


def test_both_or_neither_source_is_refused():
    with pytest.raises(ValidationError, match="either predictions or windows"):
        postprocess({"items": [{"stats": {"word_count": 1, "sentence_count": 1, "char_count": 3}}]})


def test_the_patterns_documented_body_is_accepted_and_answered_at_the_top_level():
    # The pattern's README example for /cpu/postprocess, word for word.
    output = postprocess(
        {
            "predictions": [
                {"label": "positive", "confidence": 0.9},
                {"label": "negative", "confidence": 0.1},
            ],
            "original_text": "This is great!",
            "metadata": {"word_count": 3},
        }
    ).model_dump()
    assert output["classification"]["label"] == "positive"
    assert output["classification"]["confidence"] == 0.9
    assert output["classification"]["confidence_level"] == "high"
    assert output["text_preview"] == "This is great!"
    assert output["metadata"]["word_count"] == 3
    assert output["metadata"]["windows"] == 1


def test_a_long_original_text_is_previewed_in_100_characters():
    output = postprocess(
        {"predictions": [{"label": "A", "confidence": 1.0}], "original_text": "x" * 150}
    )
    assert output.text_preview == "x" * 100 + "..."


def test_the_callers_metadata_is_kept_but_the_stage_counts_win():
    output = postprocess(
        {
            "predictions": [{"label": "A", "confidence": 1.0}],
            "metadata": {"word_count": 99, "source": "crm", "model": {"model_type": "x"}},
            "stats": {"word_count": 3, "sentence_count": 1, "char_count": 14},
        }
    ).model_dump()
    assert output["metadata"]["word_count"] == 3
    assert output["metadata"]["source"] == "crm"
    assert output["metadata"]["model"] == {"model_type": "x"}


def test_a_batch_is_answered_as_results():
    item = {"predictions": [{"label": "A", "confidence": 1.0}]}
    output = postprocess({"items": [item, item]})
    assert len(output.results) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"predictions": [{"label": "\ud800", "confidence": 1.0}]},
        {"predictions": [{"label": "A", "confidence": 1.0}], "original_text": "a\udfffb"},
        {"predictions": [{"label": "A", "confidence": 1.0}], "metadata": {"k": ["\ud800"]}},
    ],
)
def test_strings_that_cannot_be_encoded_are_refused(body):
    with pytest.raises(ValidationError) as caught:
        postprocess(body)
    message, _ = describe_validation_error(caught.value)
    assert message == "Text is not valid Unicode"
