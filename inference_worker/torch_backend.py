"""The torch backend: a transformers sequence-classification model, loaded once, run in batches."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as transformers_logging

from inference_worker.backend import Backend, is_multi_label
from inference_worker.padding import pad_sequences
from inference_worker.precision import resolve_device, resolve_dtype
from worker_runtime.model_files import max_sequence_length
from worker_runtime.windows import TextWindower

# Progress bars in a worker's log are noise, one line per loaded shard.
transformers_logging.disable_progress_bar()


@dataclass
class PaddedBatch:
    """One pass's inputs, ready for the device (pinned in host memory when it is a GPU)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class TorchClassifier(Backend):
    def __init__(
        self,
        model_dir: Path,
        model_id: str,
        revision: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ):
        self.device = resolve_device(device)
        # Checked before the model loads: a bad DTYPE stops the worker at once.
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=self.dtype)
        self.model.to(self.device).eval()

        config = self.model.config
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.vocab_size = config.vocab_size
        self.max_length = max_sequence_length(model_dir)
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.multi_label = is_multi_label(config.problem_type, config.num_labels)
        self._describe(
            # From the loaded tokenizer, not a file: a model that ships only vocab.txt is
            # converted here the same way scripts/prepare_model.py converted it for preprocess.
            TextWindower(self.tokenizer.backend_tokenizer, self.max_length),
            model_id,
            revision,
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
        )

    def prepare(self, sequences: Sequence[Sequence[int]]) -> PaddedBatch:
        """Pad a pass's sequences (lists or numpy rows) into tensors, without touching the
        device: the batcher runs this on another thread while the previous pass computes."""
        input_ids, attention_mask = pad_sequences(sequences, self.pad_id)
        batch = PaddedBatch(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        if self.device.type == "cuda":
            # Pinned memory lets the copy to the GPU run asynchronously.
            batch = PaddedBatch(batch.input_ids.pin_memory(), batch.attention_mask.pin_memory())
        return batch

    def run_prepared(self, batch: PaddedBatch) -> list[list[float]]:
        """The forward pass over a prepared batch; one row of probabilities per sequence."""
        try:
            with torch.inference_mode():
                logits = self.model(
                    input_ids=batch.input_ids.to(self.device, non_blocking=True),
                    attention_mask=batch.attention_mask.to(self.device, non_blocking=True),
                ).logits.float()
                probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)
                return probs.cpu().tolist()
        except torch.OutOfMemoryError:
            # Give the failed pass's blocks back, so the next passes fit again.
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise
