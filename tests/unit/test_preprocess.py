"""Preprocess logic: cleaning keeps meaning, counts are right, long text becomes windows."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from preprocess_worker.cleaning import clean_text, count_sentences, count_words
from preprocess_worker.stage import preprocess
from preprocess_worker.windows import WindowTokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> WindowTokenizer:
    return WindowTokenizer(tiny_model_dir, overlap_tokens=16)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("I don't think it's bad", "I don't think it's bad"),
        ("Love it 😍👍🏽 👩‍💻", "Love it 😍👍🏽 👩‍💻"),
        ("Отличный фильм! 素晴らしい。 رائع جدا", "Отличный фильм! 素晴らしい。 رائع جدا"),
        ("  tabs\tand\nnew\r\nlines   ", "tabs and new lines"),
        ("bell\x07 and\x00 nul\u200b zero-width", "bell and nul zero-width"),
        ("cafe\u0301", "café"),  # NFC: one code point, as the user meant
    ],
)
def test_cleaning_keeps_meaning(raw, cleaned):
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello world.", 1),
        ("Hello world", 1),
        ("Hi. How are you? Fine!", 3),
        ("Wait... what?!", 2),
        ("It costs 3.5 dollars. Cheap.", 2),
        ("今日は晴れ。明日は雨。", 2),
        ("!!!", 0),
    ],
)
def test_sentence_count(text, sentences):
    assert count_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "words"),
    [("I don't know", 3), ("state-of-the-art model", 2), ("😀 😀", 0), ("Hello, world!", 2)],
)
def test_word_count(text, words):
    assert count_words(text) == words


def test_short_text_is_one_window_with_special_tokens(tokenizer, tiny_model_dir):
    output = preprocess({"text": "The movie was good."}, tokenizer)
    assert output.word_count == 4 and output.sentence_count == 1 and output.char_count == 19
    [window] = output.windows
    vocab = json.loads((tiny_model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert window.input_ids[0] == vocab["[CLS]"] and window.input_ids[-1] == vocab["[SEP]"]
    assert (window.char_start, window.char_end) == (0, 19)


def test_long_text_becomes_overlapping_windows_within_the_model_length(tokenizer):
    text = " ".join(f"sentence number {i} is good." for i in range(300))
    output = preprocess({"text": text}, tokenizer)
    assert len(output.windows) > 1
    assert all(len(w.input_ids) <= tokenizer.max_length for w in output.windows)
    assert [w.index for w in output.windows] == list(range(len(output.windows)))
    # Windows cover the whole text, in order, each starting before the previous one ends.
    assert output.windows[0].char_start == 0
    assert output.windows[-1].char_end == len(output.cleaned_text)
    for before, after in zip(output.windows, output.windows[1:], strict=False):
        assert before.char_start < after.char_start < before.char_end


def test_output_names_its_tokenizer(tokenizer, tiny_model_dir):
    output = preprocess({"text": "fine"}, tokenizer)
    assert output.tokenizer.fingerprint.startswith("sha256:")
    assert output.tokenizer.max_length == 64  # the tiny model's maximum
    assert output.tokenizer.stride == 16


def test_invalid_text_is_refused(tokenizer):
    with pytest.raises(ValidationError):
        preprocess({"text": "  "}, tokenizer)


def test_many_texts_in_one_job_each_fail_alone(tokenizer):
    output = preprocess(
        {"items": [{"text": "A fine day."}, {"text": "  "}, {"text": "Another one."}]}, tokenizer
    ).model_dump()
    first, bad, third = output["results"]
    assert first["cleaned_text"] == "A fine day."
    assert third["cleaned_text"] == "Another one."
    assert bad == {
        "error": "Text cannot be empty",
        "error_type": "invalid_input",
        "details": [{"field": "text", "message": "Text cannot be empty"}],
    }


@pytest.mark.parametrize("job_input", [{"items": []}, {"items": [{"text": "x"}] * 1_025}])
def test_a_batch_job_is_bounded(tokenizer, job_input):
    with pytest.raises(ValidationError):
        preprocess(job_input, tokenizer)
