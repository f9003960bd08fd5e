"""Cleaning and counting that keep meaning: apostrophes, emoji and every script survive."""

import re
import unicodedata

from contracts import TextStats

# Invisible characters that carry no meaning for classification. Zero-width joiners and
# variation selectors are kept: emoji sequences such as 👩‍💻 depend on them.
_DROPPED = {"\ufeff", "\u200b", "\u2060", "\u00ad"}
_WHITESPACE_RUN = re.compile(r"\s+")
# A word: letters or digits, with inner apostrophes or hyphens ("don't", "state-of-the-art").
_WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
# A sentence ends at a run of terminators followed by whitespace or the end of the text
# (so "3.5" and "e.g.x" do not split); CJK full stops end a sentence wherever they stand.
_SENTENCE_END = re.compile(r"[.!?\u2026]+(?=\s|$)|[\u3002\uff01\uff1f]+")


def _keep(ch: str) -> bool:
    if ch in _DROPPED:
        return False
    category = unicodedata.category(ch)
    # Control characters other than whitespace go; whitespace is normalized below.
    if category == "Cc":
        return ch.isspace()
    return category != "Cs"  # lone surrogates cannot even be encoded as UTF-8


def clean_text(text: str) -> str:
    """NFC-normalize, drop control and invisible characters, and collapse whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if _keep(ch))
    return _WHITESPACE_RUN.sub(" ", text).strip()


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    """Count sentences: text after the last terminator counts as one more if it has a word."""
    pieces = _SENTENCE_END.split(text)
    return sum(1 for piece in pieces if _WORD.search(piece))


def text_stats(cleaned: str) -> TextStats:
    return TextStats(
        word_count=count_words(cleaned),
        sentence_count=count_sentences(cleaned),
        char_count=len(cleaned),
    )
