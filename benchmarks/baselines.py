"""What the pipeline is held against, on the same texts, in this process.

- naive: transformers' own text-classification pipeline, one text at a time, as a first
  script would do it. It truncates a long text to one window, so it does less work than
  the pipeline on the few long texts: the comparison favours it.
- limit: the model's own forward pass over exactly the pipeline's windows, sorted by length
  and run in batches (several batch sizes tried, the best kept), with nothing around it: no
  HTTP, no JSON, no tokenizing. No serving stack can beat it on this hardware.
"""

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.load import ms_since, percentile
from contracts import PreprocessOutput


@dataclass
class Baseline:
    name: str
    texts: int
    seconds: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    # For the limit: texts per second at each batch size tried.
    by_batch_size: dict[int, float] = field(default_factory=dict)
    best_batch_size: int | None = None

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds


class LoadedModel:
    """The model and tokenizer loaded once, on the device and in the dtype the inference
    worker would use."""

    def __init__(self, model_dir: Path):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype)
        self.model.to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.parameters = sum(p.numel() for p in self.model.parameters())

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()


def naive_pipeline(loaded: LoadedModel, texts: list[str], max_seconds: float) -> Baseline:
    from transformers import pipeline

    classify = pipeline(
        "text-classification", model=loaded.model, tokenizer=loaded.tokenizer, device=loaded.device
    )
    for text in texts[:3]:  # warm-up
        classify(text, truncation=True)
    latencies = []
    started = time.perf_counter()
    for text in texts:
        if time.perf_counter() - started > max_seconds:
            break
        one = time.perf_counter()
        classify(text, truncation=True)
        latencies.append(ms_since(one))
    return Baseline(
        name="naive: transformers.pipeline, one text at a time",
        texts=len(latencies),
        seconds=time.perf_counter() - started,
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
    )


def batched_forward(
    loaded: LoadedModel, texts: list[PreprocessOutput], batch_sizes: list[int], max_seconds: float
) -> Baseline:
    """One timed pass over all windows per batch size, in the order given, while
    `max_seconds` last (the first always runs); the fastest pass is the limit."""
    torch = loaded.torch
    windows = sorted((w.input_ids for text in texts for w in text.windows), key=len)

    def forward_all(batch_size: int, sequences: list[list[int]]) -> float:
        loaded.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            for start in range(0, len(sequences), batch_size):
                batch = sequences[start : start + batch_size]
                input_ids = torch.nn.utils.rnn.pad_sequence(
                    [torch.tensor(ids) for ids in batch],
                    batch_first=True,
                    padding_value=loaded.pad_id,
                )
                mask = torch.nn.utils.rnn.pad_sequence(
                    [torch.ones(len(ids), dtype=torch.long) for ids in batch], batch_first=True
                )
                logits = loaded.model(
                    input_ids=input_ids.to(loaded.device), attention_mask=mask.to(loaded.device)
                ).logits
                logits.float().cpu()
        loaded.synchronize()
        return time.perf_counter() - started

    first = batch_sizes[0]
    forward_all(first, windows[:first] + windows[-first:])  # warm-up: shortest, longest
    seconds: dict[int, float] = {}
    started = time.perf_counter()
    for size in batch_sizes:
        if seconds and time.perf_counter() - started > max_seconds:
            break
        seconds[size] = forward_all(size, windows)
    best = min(seconds, key=seconds.__getitem__)
    return Baseline(
        name=f"limit: length-sorted batched forward, batch {best}",
        texts=len(texts),
        seconds=seconds[best],
        by_batch_size={size: len(texts) / s for size, s in seconds.items()},
        best_batch_size=best,
    )


def faster(first: Baseline, second: Baseline) -> Baseline:
    """The faster of two measurements of one baseline, taken apart in time: a shared
    machine's load moves, and a baseline measured in a busy moment would flatter every ratio
    to it. A limit keeps each batch size's best."""
    sizes = dict(first.by_batch_size)
    for size, per_s in second.by_batch_size.items():
        sizes[size] = max(per_s, sizes.get(size, 0.0))
    return replace(max(first, second, key=lambda b: b.texts_per_s), by_batch_size=sizes)
