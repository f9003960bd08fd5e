"""Each worker's handler runs unchanged in Runpod's local test mode (`python handler.py`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import WorkerError

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_handler(
    worker: str, model_dir: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODEL_ID": str(model_dir), "RUNPOD_LOG_LEVEL": "INFO"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / worker / "handler.py"), *args],
        cwd=cwd or REPO_ROOT / worker,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("worker", ["preprocess_worker", "postprocess_worker"])
def test_test_input_json_passes(worker, tiny_model_dir):
    assert json.loads((REPO_ROOT / worker / "test_input.json").read_text())["input"]
    result = run_handler(worker, tiny_model_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed successfully" in result.stdout


def test_inference_test_input_is_what_the_orchestrator_sends(tiny_model_dir, tmp_path):
    """The inference worker's test_input.json is made per model (token ids depend on it):
    written by scripts/write_test_input.py for the tiny model, it passes; the handler reads
    ./test_input.json from its working directory, here a temporary one."""
    env = {**os.environ, "MODEL_ID": str(tiny_model_dir)}
    made = subprocess.run(
        [sys.executable, "-m", "scripts.write_test_input", str(tmp_path / "test_input.json")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    job = json.loads((tmp_path / "test_input.json").read_text())
    # The orchestrator's inference job: windows and the tokenizer fingerprint, no text.
    [item] = job["input"]["items"]
    assert set(item) == {"windows", "tokenizer_fingerprint"}
    assert item["tokenizer_fingerprint"].startswith("sha256:")
    [window] = item["windows"]
    assert window["input_ids"] and window["char_start"] == 0 and window["char_end"] > 0

    result = run_handler("inference_worker", tiny_model_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed successfully" in result.stdout
    assert item["tokenizer_fingerprint"] in result.stdout  # the worker's own, in model_info


@pytest.mark.parametrize(
    ("worker", "job_input", "message"),
    [
        ("preprocess_worker", {"text": "  "}, "Text cannot be empty"),
        ("inference_worker", {"cleaned_text": "", "word_count": 0}, "Cleaned text cannot be empty"),
        (
            "postprocess_worker",
            {"predictions": [{"label": "A", "confidence": 2}]},
            "Confidence must be between 0.0 and 1.0",
        ),
    ],
)
def test_bad_input_fails_the_job_with_its_message_and_no_traceback(
    worker, job_input, message, tiny_model_dir
):
    result = run_handler(worker, tiny_model_dir, "--test_input", json.dumps({"input": job_input}))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    # The error is typed, so the orchestrator can answer 422 for the caller's mistake.
    wire = output.split("failed with error: ", 1)[1].splitlines()[0]
    typed = WorkerError.from_wire(wire)
    assert typed is not None, wire
    assert typed.error == message
    assert typed.error_type == "invalid_input"
    assert "Traceback" not in output


def test_a_missing_model_stops_the_worker_with_a_clear_message(tmp_path):
    env = {**os.environ, "MODEL_ID": "no-such-org/no-such-model", "HF_HUB_OFFLINE": "1"}
    env["HF_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "handler.py"],
        cwd=REPO_ROOT / "preprocess_worker",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "preprocess worker cannot start: Model 'no-such-org/no-such-model'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "cwd", "variable", "message"),
    [
        (
            ["handler.py"],
            "inference_worker",
            {"MAX_BATCH_SIZE": "0"},
            "inference worker cannot start: invalid configuration: MAX_BATCH_SIZE: "
            "Input should be greater than or equal to 1",
        ),
        (
            ["handler.py"],
            "inference_worker",
            {"DTYPE": "float64"},
            "inference worker cannot start: invalid configuration: DTYPE: "
            "Input should be 'float16', 'bfloat16' or 'float32'",
        ),
        (
            # Refused before the model is looked up: no model is named here.
            ["handler.py"],
            "inference_worker",
            {"DTYPE": "float16", "DEVICE": "cpu", "MODEL_ID": "no-such-org/no-such-model"},
            "inference worker cannot start: invalid configuration: DTYPE: "
            "float16 runs only on a GPU; on cpu use bfloat16 or float32",
        ),
        (
            ["-m", "orchestrator"],
            ".",
            {"MAX_BATCH_TEXTS": "5000"},
            "orchestrator cannot start: invalid configuration: MAX_BATCH_TEXTS: "
            "Input should be less than or equal to 1024",
        ),
    ],
)
def test_bad_configuration_stops_a_component_with_one_line(command, cwd, variable, message):
    result = subprocess.run(
        [sys.executable, *command],
        cwd=REPO_ROOT / cwd,
        env={**os.environ, **variable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == message
