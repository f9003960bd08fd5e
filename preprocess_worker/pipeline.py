"""The preprocess stage as one plain function: job input in, PreprocessOutput out."""

from typing import Any

from contracts import PreprocessInput, PreprocessOutput
from preprocess_worker.cleaning import clean_text, text_stats
from preprocess_worker.windows import WindowTokenizer


def preprocess(job_input: Any, tokenizer: WindowTokenizer) -> PreprocessOutput:
    request = PreprocessInput.model_validate(job_input)
    cleaned = clean_text(request.text)
    return PreprocessOutput(
        cleaned_text=cleaned,
        **text_stats(cleaned).model_dump(),
        windows=tokenizer.split(cleaned),
        tokenizer=tokenizer.info,
    )
