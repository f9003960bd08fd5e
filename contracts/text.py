"""The one text rule: what a classifiable text is, with the messages users see."""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from contracts.limits import Limits

# Control, format and surrogate code points are removed by cleaning, so a text made only of
# them (and whitespace) is as empty as one made of spaces.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def _has_visible_character(text: str) -> bool:
    return any(
        not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text
    )


def require_unicode(text: str) -> str:
    """Refuse a string that cannot be encoded, such as a lone UTF-16 surrogate ("\\ud800"),
    which JSON can carry but no worker could send on: refused here, it is the caller's 422,
    not the orchestrator's 500 one hop later."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("text_not_unicode", "Text is not valid Unicode") from None
    return text


def validate_text(text: str) -> str:
    """Return the text unchanged, or raise a pydantic error whose message is shown to users."""
    require_unicode(text)
    if not _has_visible_character(text):
        raise PydanticCustomError("text_empty", "Text cannot be empty")
    length = len(text.strip())
    if length < Limits.MIN_TEXT_CHARS:
        raise PydanticCustomError(
            "text_too_short",
            "Text too short (minimum {minimum} characters)",
            {"minimum": Limits.MIN_TEXT_CHARS},
        )
    if length > Limits.MAX_TEXT_CHARS:
        raise PydanticCustomError(
            "text_too_long",
            "Text too long (maximum {maximum} characters). Got {got} characters.",
            # The pattern's words exactly: "Got 15000 characters", no thousands separator.
            {"maximum": f"{Limits.MAX_TEXT_CHARS:,}", "got": str(length)},
        )
    return text


ClassifiableText = Annotated[str, AfterValidator(validate_text)]
# Every other string a caller sends (labels, cleaned text, fingerprints, metadata keys).
UnicodeStr = Annotated[str, AfterValidator(require_unicode)]
