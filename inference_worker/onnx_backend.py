"""The ONNX Runtime backend, for CPUs: the same classifier surface as the torch backend.

The model is exported once to model.onnx (scripts/export_onnx.py, at image build) from the
same MODEL_ID/MODEL_REVISION; everything else comes from the model's own tokenizer.json and
config.json. Neither torch nor transformers is imported here: the CPU image holds neither.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime

from inference_worker.backend import Backend, is_multi_label
from inference_worker.padding import pad_sequences
from worker_runtime.model_files import ONNX_MODEL_FILE, max_sequence_length
from worker_runtime.windows import TextWindower

BACKEND_NAME = "onnxruntime"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


class OnnxClassifier(Backend):
    device = "cpu"

    def __init__(self, model_dir: Path, model_id: str, revision: str | None = None):
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        id2label = config.get("id2label") or {"0": "LABEL_0", "1": "LABEL_1"}
        self.labels = [id2label[str(i)] for i in range(len(id2label))]
        self.vocab_size = int(config["vocab_size"])
        self.max_length = max_sequence_length(model_dir)
        self.pad_id = config.get("pad_token_id") or 0
        self.multi_label = is_multi_label(config.get("problem_type"), len(self.labels))
        self._session = onnxruntime.InferenceSession(
            str(model_dir / ONNX_MODEL_FILE), providers=["CPUExecutionProvider"]
        )
        self._describe(
            TextWindower.from_model_dir(model_dir, self.max_length),
            model_id,
            revision,
            device=self.device,
            dtype="float32",
            backend=BACKEND_NAME,
        )

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
