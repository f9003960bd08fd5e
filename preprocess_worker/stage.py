"""The preprocess stage as one plain function: job input in, PreprocessOutput out."""

from typing import Any

from contracts import PreprocessBatchInput, PreprocessBatchOutput, PreprocessInput, PreprocessOutput
from contracts.shapes import is_batch_form
from preprocess_worker.cleaning import clean_text, text_stats
from preprocess_worker.windows import WindowTokenizer
from worker_runtime.jobs import worker_error


def preprocess_text(item: Any, tokenizer: WindowTokenizer) -> PreprocessOutput:
    request = PreprocessInput.model_validate(item)
    cleaned = clean_text(request.text)
    return PreprocessOutput(
        cleaned_text=cleaned,
        **text_stats(cleaned).model_dump(),
        windows=tokenizer.split(cleaned),
        tokenizer=tokenizer.info,
    )


def preprocess(
    job_input: Any, tokenizer: WindowTokenizer
) -> PreprocessOutput | PreprocessBatchOutput:
    """`{"text": ...}` (the pattern's form) or `{"items": [{"text": ...}, ...]}`, where each
    item that fails is answered with its own typed error and the others still succeed."""
    if not is_batch_form(job_input):
        return preprocess_text(job_input, tokenizer)
    batch = PreprocessBatchInput.model_validate(job_input)
    results: list[PreprocessOutput | Any] = []
    for item in batch.items:
        try:
            results.append(preprocess_text(item, tokenizer))
        except Exception as exc:
            results.append(worker_error(exc, "preprocess"))
    return PreprocessBatchOutput(results=results)
