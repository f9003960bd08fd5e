"""What both inference backends share (torch_backend, onnx_backend): the model's description,
its tokenizer's windows, and one forward pass in two steps, so the batcher pads the next pass
while the current one runs."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from contracts import ModelInfo, TokenWindow
from worker_runtime.windows import TextWindower


def is_multi_label(problem_type: str | None, num_labels: int) -> bool:
    """Sigmoid per label rather than softmax: the rule of transformers' text-classification
    pipeline, so both backends read a model's config the same way."""
    return problem_type == "multi_label_classification" or num_labels == 1


class Backend(ABC):
    labels: list[str]
    vocab_size: int
    max_length: int
    pad_id: int
    multi_label: bool
    windower: TextWindower
    fingerprint: str
    info: ModelInfo

    def _describe(
        self,
        windower: TextWindower,
        model_id: str,
        revision: str | None,
        device: str,
        dtype: str,
        backend: str | None = None,
    ) -> None:
        """Set what the model answers with: its tokenizer (and so the fingerprint preprocess
        must match) and its ModelInfo."""
        self.windower = windower
        self.fingerprint = windower.fingerprint
        self.info = ModelInfo(
            model_id=model_id,
            revision=revision,
            labels=self.labels,
            max_length=self.max_length,
            tokenizer_fingerprint=self.fingerprint,
            device=device,
            dtype=dtype,
            backend=backend,
        )

    @abstractmethod
    def prepare(self, sequences: Sequence[Sequence[int]]) -> Any:
        """Pad a pass's sequences into the model's inputs, without touching the device."""

    @abstractmethod
    def run_prepared(self, prepared: Any) -> list[list[float]]:
        """The forward pass over prepared inputs; one row of probabilities per sequence."""

    def probabilities(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """One forward pass over token id sequences of any lengths; one row per sequence."""
        return self.run_prepared(self.prepare(sequences))

    def split_text(self, text: str, overlap_tokens: int) -> list[TokenWindow]:
        """Tokenize cleaned text here (the pattern's input) into windows, as preprocess does."""
        return self.windower.split_with_overlap(text, overlap_tokens)
