"""The classifier: loads a transformers sequence-classification model once and runs batches."""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as transformers_logging

from contracts import ModelInfo, TokenWindow
from contracts.model_source import max_sequence_length, tokenizer_fingerprint
from contracts.preprocess import window_stride

# Progress bars in a worker's log are noise, one line per loaded shard.
transformers_logging.disable_progress_bar()


class Classifier:
    def __init__(
        self,
        model_dir: Path,
        model_id: str,
        revision: str | None = None,
        device: str | None = None,
    ):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # Half precision halves memory and roughly doubles throughput on a GPU; CPUs gain
        # nothing from it and lose accuracy.
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=self.dtype)
        self.model.to(self.device).eval()

        config = self.model.config
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.vocab_size = config.vocab_size
        self.max_length = max_sequence_length(model_dir)
        self.pad_id = self.tokenizer.pad_token_id or 0
        # The same rule as transformers' text-classification pipeline.
        self.multi_label = (
            config.problem_type == "multi_label_classification" or config.num_labels == 1
        )
        # From the loaded tokenizer, not a file: a model that ships only vocab.txt is
        # converted here the same way scripts/prepare_model.py converted it for preprocess.
        self.fingerprint = tokenizer_fingerprint(self.tokenizer.backend_tokenizer.to_str())
        self.info = ModelInfo(
            model_id=model_id,
            revision=revision,
            labels=self.labels,
            max_length=self.max_length,
            tokenizer_fingerprint=self.fingerprint,
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
        )

    def probabilities(self, sequences: list[list[int]]) -> list[list[float]]:
        """One forward pass over token id sequences of any lengths; one row per sequence."""
        longest = max(len(seq) for seq in sequences)
        input_ids = torch.full((len(sequences), longest), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention_mask[row, : len(seq)] = 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
            ).logits.float()
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return probs.cpu().tolist()

    def split_text(self, text: str, overlap_tokens: int) -> list[TokenWindow]:
        """Tokenize cleaned text here (the pattern's input) into windows, as preprocess does."""
        special = self.tokenizer.num_special_tokens_to_add()
        encoded = self.tokenizer(
            text,
            truncation=True,
            max_length=self.max_length,
            stride=window_stride(self.max_length, special, overlap_tokens),
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
        return [TokenWindow.from_tokens(i, *part) for i, part in enumerate(parts)]
