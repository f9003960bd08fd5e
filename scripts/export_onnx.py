"""Export a sequence-classification model to model.onnx, for the inference worker's ONNX backend.

Loads the model with transformers and torch (which only this step needs) and writes
model.onnx beside its files: inputs input_ids and attention_mask (int64, any batch size and
sequence length), output logits. The CPU image's build stage runs it once on the model that
scripts/prepare_model.py fetched, then drops the weights (--drop-weights): the image serves
model.onnx alone. Tests run it on the tiny model.

    python -m scripts.export_onnx MODEL_DIR [--drop-weights]
    MODEL_ID=... MODEL_REVISION=... python -m scripts.export_onnx --prepared [--drop-weights]
"""

import argparse
import os
import subprocess
import sys
import warnings
from pathlib import Path

from worker_runtime.model_files import DEFAULT_MODEL_ID, ONNX_MODEL_FILE, ModelUnavailableError

# Opset 18: what torch's exporter writes natively; ONNX Runtime has run it since 1.14.
OPSET = 18


def export(model_dir: Path) -> Path:
    """Write model_dir/model.onnx and return its path."""
    import torch
    from transformers import AutoModelForSequenceClassification

    # Eager attention: traced from torch's fused SDPA call instead, the graph ran 25% slower
    # in ONNX Runtime on 512-token windows of the base-sized model (same answers).
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    # Two rows of different lengths, so neither padding nor batching is traced as a constant.
    input_ids = torch.tensor([[2, 5, 6, 3], [2, 5, 3, 0]], dtype=torch.int64)
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.int64)
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=model.config.max_position_embeddings)
    target = model_dir / ONNX_MODEL_FILE
    with warnings.catch_warnings():
        # The exporter names the dynamic axes itself and says so, once per axis; torch.export
        # warns of its own deprecations. Neither is about the model.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            model,
            (),
            str(target),
            kwargs={"input_ids": input_ids, "attention_mask": attention_mask},
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_shapes={
                "input_ids": {0: batch, 1: sequence},
                "attention_mask": {0: batch, 1: sequence},
            },
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    return target


def is_exported(model_dir: Path) -> bool:
    """model_dir has a model.onnx no older than its weights."""
    target = model_dir / ONNX_MODEL_FILE
    weights = [p.stat().st_mtime for p in model_dir.glob("*.safetensors")]
    return target.is_file() and target.stat().st_mtime >= max(weights, default=0)


def export_in_subprocess(model_dir: Path) -> str | None:
    """Export in a process of its own (the export loads torch's tracing machinery, which
    no caller needs after); None when it worked, else the error's last line. A failed
    export leaves no model.onnx behind."""
    result = subprocess.run(
        [sys.executable, "-m", "scripts.export_onnx", str(model_dir)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        return None
    (model_dir / ONNX_MODEL_FILE).unlink(missing_ok=True)
    return (result.stderr.strip().splitlines() or ["no output"])[-1][:300]


def drop_weights(model_dir: Path) -> None:
    """Remove the safetensors weights (the Hugging Face cache's blobs too): model.onnx holds
    them, and the CPU image would otherwise carry the model twice."""
    for path in model_dir.glob("*.safetensors*"):
        blob = path.resolve()
        path.unlink()
        if blob != path and blob.exists():
            blob.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, help="a local model directory")
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="the model of MODEL_ID/MODEL_REVISION, fetched by scripts.prepare_model",
    )
    parser.add_argument("--drop-weights", action="store_true", help="remove *.safetensors after")
    args = parser.parse_args()
    if (args.model_dir is None) == (not args.prepared):
        parser.error("give MODEL_DIR or --prepared, not both")
    if args.prepared:
        from scripts.prepare_model import prepare

        try:
            model_dir = prepare(
                os.environ.get("MODEL_ID") or DEFAULT_MODEL_ID,
                os.environ.get("MODEL_REVISION") or None,
                everything=True,
            )
        except ModelUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        model_dir = args.model_dir
    target = export(model_dir)
    if args.drop_weights:
        drop_weights(model_dir)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
