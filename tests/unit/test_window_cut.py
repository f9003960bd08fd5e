"""One window cut (contracts.windows) for every step that splits a text: it cuts where the
tokenizers library's own truncation cut before, for preprocess and both inference backends."""

import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from contracts import TokenWindow
from contracts.windows import window_spans, window_stride
from scripts.make_tiny_model import build_tokenizer
from worker_runtime.windows import TextWindower

WORDS = (
    "the a good bad movie film was great terrible ok don't state-of-the-art 3.5 e.g. "
    "héllo café Отличный 素晴らしい。 رائع 👩‍💻 😍👍🏽 [SEP] [CLS] \uff01 …"
).split()


def library_windows(tokenizer: Tokenizer, text: str, max_length: int, stride: int):
    """The cut as the workers made it before: the library's truncation with overflow."""
    truncating = Tokenizer.from_str(tokenizer.to_str())
    truncating.no_padding()
    truncating.enable_truncation(max_length=max_length, stride=stride)
    first = truncating.encode(text)
    return [
        TokenWindow.from_tokens(i, e.ids, e.offsets, e.special_tokens_mask)
        for i, e in enumerate([first, *first.overflowing])
    ]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return build_tokenizer()


@pytest.mark.parametrize("max_length", [4, 8, 16, 64])
@pytest.mark.parametrize("overlap", [0, 1, 3, 16, 1000])
def test_windows_are_the_libraries_own_cut(tokenizer: Tokenizer, max_length: int, overlap: int):
    windower = TextWindower(tokenizer, max_length)
    stride = windower.stride_for(overlap)
    rng = random.Random(max_length * 1000 + overlap)
    for words in (0, 1, 2, 5, 13, 60, 300):
        text = " ".join(rng.choice(WORDS) for _ in range(words))
        assert windower.split(text, stride) == library_windows(
            tokenizer, text, max_length, stride
        ), text


def test_torch_backend_cuts_as_transformers_did(tiny_model_dir: Path):
    """The torch backend used transformers' tokenizer call; it now cuts with the same rule."""
    from transformers import AutoTokenizer

    from inference_worker.torch_backend import TorchClassifier

    classifier = TorchClassifier(tiny_model_dir, model_id="tiny", device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = " ".join(random.Random(0).choice(WORDS) for _ in range(400))
    for overlap in (0, 16, 1000):
        stride = window_stride(
            classifier.max_length, tokenizer.num_special_tokens_to_add(), overlap
        )
        encoded = tokenizer(
            text,
            truncation=True,
            max_length=classifier.max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        parts = zip(
            encoded["input_ids"],
            encoded["offset_mapping"],
            encoded["special_tokens_mask"],
            strict=True,
        )
        expected = [TokenWindow.from_tokens(i, *part) for i, part in enumerate(parts)]
        assert len(expected) > 2
        assert classifier.split_text(text, overlap) == expected


def test_a_text_that_fits_is_one_window_an_empty_one_included():
    assert window_spans(0, 8, 2, 0) == [slice(0, 0)]
    assert window_spans(6, 8, 2, 3) == [slice(0, 6)]


def test_each_window_after_the_first_repeats_stride_tokens():
    # 6 text tokens a window, 2 of them shared with the window before.
    assert window_spans(14, 8, 2, 2) == [slice(0, 6), slice(4, 10), slice(8, 14)]
    assert window_spans(15, 8, 2, 2) == [
        slice(0, 6),
        slice(4, 10),
        slice(8, 14),
        slice(12, 15),
    ]


def test_the_overlap_is_at_most_half_a_window():
    assert window_stride(512, 2, 128) == 128
    assert window_stride(16, 2, 1000) == 7
    assert window_stride(16, 2, -5) == 0
    with pytest.raises(ValueError, match="leaves no room for text"):
        window_stride(3, 2, 0)
    with pytest.raises(ValueError, match="does not fit"):
        window_spans(10, 8, 2, 6)
