"""The API page's curl examples: find them, and rewrite their responses from a live pipeline.

Each example is a ```bash block holding one curl command to localhost:8888, followed (after
any prose) by the ```json block it answers, in the pages of EXAMPLE_PAGES (the README shows
some of the same commands, without their answers). `make test` runs every one against a live
pipeline (tests/stack/test_end_to_end.py); when a response's shape changes on purpose, rewrite them:

    python -m scripts.api_examples      # uses .cache/tiny-model, made if missing
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from scripts.export_onnx import export_in_subprocess, is_exported
from scripts.local_stack import REPO_ROOT, WORKERS, LocalStack, free_port
from scripts.make_tiny_model import ensure_random_model

EXAMPLE_PAGES = [REPO_ROOT / "docs" / "api.md"]
EXAMPLE = re.compile(r"(```bash\n(curl .*?)```\n[^`]*?```json\n)(.*?)(```)", re.DOTALL)
EXAMPLE_URL = "localhost:8888"


def examples(text: str) -> list[tuple[str, object]]:
    """(command, expected response) for each example in `text`."""
    return [(m.group(2).strip(), json.loads(m.group(3))) for m in EXAMPLE.finditer(text)]


def all_examples() -> list[tuple[str, object]]:
    """Every example of every page in EXAMPLE_PAGES, in order."""
    return [example for page in EXAMPLE_PAGES for example in examples(page.read_text())]


def run_example(command: str, port: int) -> object:
    command = command.replace(EXAMPLE_URL, f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def render(value: object) -> str:
    """Indented JSON, with lists of numbers (token ids) kept on one line."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return re.sub(
        r"\[\s*(?:-?\d+,\s*)*-?\d+\s*\]",
        lambda m: "[" + ", ".join(re.findall(r"-?\d+", m.group(0))) + "]",
        text,
    )


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MODEL_ID")
    if model and Path(model).is_dir():
        # The workers run in their own folders: a relative directory must not change meaning.
        model = str(Path(model).resolve())
    if not model:
        ensure_random_model(REPO_ROOT / ".cache" / "tiny-model")
        # Relative to each worker's folder, so no path of this machine lands in the pages.
        model = "../.cache/tiny-model"
    # The CPU inference worker (/classify-smart) reads model.onnx beside the model's files.
    model_dir = REPO_ROOT / "inference_worker" / model
    if not is_exported(model_dir) and (failure := export_in_subprocess(model_dir)):
        raise SystemExit(f"error: the ONNX export failed: {failure}")
    ports = {n: free_port() for n in (*(name for name, _, _ in WORKERS), "orchestrator")}
    with LocalStack(env={"MODEL_ID": model}, ports=ports) as stack:
        for page in EXAMPLE_PAGES:
            text = EXAMPLE.sub(
                lambda m: (
                    m.group(1)
                    + render(run_example(m.group(2).strip(), stack.orchestrator.port))
                    + "\n"
                    + m.group(4)
                ),
                page.read_text(),
            )
            page.write_text(text)
            print(f"rewrote {len(examples(text))} examples in {page.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
