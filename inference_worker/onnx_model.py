"""The CPU backend: the same classifier surface as model.py, run by ONNX Runtime.

The model is exported once to model.onnx (scripts/export_onnx.py, at image build) from the
same MODEL_ID/MODEL_REVISION; everything else comes from the model's own tokenizer.json and
config.json. Neither torch nor transformers is imported here: the CPU image holds neither.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from contracts import ModelInfo, TokenWindow
from contracts.model_source import ONNX_MODEL_FILE, max_sequence_length, tokenizer_fingerprint
from contracts.preprocess import window_stride
from inference_worker.padding import pad_sequences

BACKEND_NAME = "onnxruntime"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


class OnnxClassifier:
    device = "cpu"

    def __init__(self, model_dir: Path, model_id: str, revision: str | None = None):
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        id2label = config.get("id2label") or {"0": "LABEL_0", "1": "LABEL_1"}
        self.labels = [id2label[str(i)] for i in range(len(id2label))]
        self.vocab_size = int(config["vocab_size"])
        self.max_length = max_sequence_length(model_dir)
        self.pad_id = config.get("pad_token_id") or 0
        # The same rule as model.py (transformers' text-classification pipeline).
        self.multi_label = (
            config.get("problem_type") == "multi_label_classification" or len(self.labels) == 1
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.fingerprint = tokenizer_fingerprint(self._tokenizer.to_str())
        self._tokenizer.no_padding()
        self._special_tokens = self._tokenizer.num_special_tokens_to_add(False)
        # One truncating copy per overlap: split_text runs on several threads at once, and a
        # shared tokenizer's truncation setting would be theirs to race on.
        self._windowers: dict[int, Tokenizer] = {}
        self._session = onnxruntime.InferenceSession(
            str(model_dir / ONNX_MODEL_FILE), providers=["CPUExecutionProvider"]
        )
        self.info = ModelInfo(
            model_id=model_id,
            revision=revision,
            labels=self.labels,
            max_length=self.max_length,
            tokenizer_fingerprint=self.fingerprint,
            device=self.device,
            dtype="float32",
            backend=BACKEND_NAME,
        )

    def probabilities(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """One forward pass over token id sequences of any lengths; one row per sequence."""
        return self.run_prepared(self.prepare(sequences))

    def prepare(self, sequences: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """A pass's sequences padded into the model's inputs (on the batcher's other thread)."""
        input_ids, attention_mask = pad_sequences(sequences, self.pad_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def run_prepared(self, inputs: dict[str, np.ndarray]) -> list[list[float]]:
        """The forward pass over prepared inputs; one row of probabilities per sequence."""
        (logits,) = self._session.run(["logits"], inputs)
        logits = logits.astype(np.float32, copy=False)
        probs = _sigmoid(logits) if self.multi_label else _softmax(logits)
        return probs.tolist()

    def split_text(self, text: str, overlap_tokens: int) -> list[TokenWindow]:
        """Tokenize cleaned text here (the pattern's input) into windows, as preprocess does."""
        stride = window_stride(self.max_length, self._special_tokens, overlap_tokens)
        windower = self._windowers.get(stride)
        if windower is None:
            windower = Tokenizer.from_str(self._tokenizer.to_str())
            windower.enable_truncation(max_length=self.max_length, stride=stride)
            self._windowers[stride] = windower
        first = windower.encode(text)
        return [
            TokenWindow.from_tokens(i, e.ids, e.offsets, e.special_tokens_mask)
            for i, e in enumerate([first, *first.overflowing])
        ]
