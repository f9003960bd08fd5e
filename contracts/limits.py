"""Hard limits every component enforces the same way."""

from typing import Final


class Limits:
    MIN_TEXT_CHARS: Final = 3
    MAX_TEXT_CHARS: Final = 10_000
    # The orchestrator's MAX_BATCH_TEXTS defaults to this and may not exceed MAX_BATCH_TEXTS_CAP.
    DEFAULT_MAX_BATCH_TEXTS: Final = 64
    MAX_BATCH_TEXTS_CAP: Final = 1_024
    # One inference or postprocess job: bounds memory on the worker and stays far below
    # Runpod's 10 MB (/run) and 20 MB (/runsync) payload limits.
    MAX_ITEMS_PER_JOB: Final = 1_024
    MAX_WINDOWS_PER_JOB: Final = 16_384
    MAX_TOKENS_PER_WINDOW: Final = 8_192
    # Error messages that come back from a worker are cut to this length.
    MAX_ERROR_CHARS: Final = 1_000
