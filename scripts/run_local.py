"""`make run`: the whole pipeline on this machine, at http://localhost:8888.

Fetches the model once (MODEL_ID may name a local directory instead) and exports it to
model.onnx beside its files (once), starts the four workers in Runpod's local API mode (the
fourth is the inference worker on ONNX Runtime, /classify-smart's CPU endpoint) and the
orchestrator (LAYOUT=inline: the inference worker alone, the rest in the orchestrator;
LAYOUT=single: the all-stage worker, SINGLE_PORT, and the same on ONNX Runtime,
SINGLE_CPU_PORT), and watches them: Ctrl-C stops them all, and a worker that dies is reported
and stops the rest. PORT moves the orchestrator, PREPROCESS_PORT, INFERENCE_PORT,
POSTPROCESS_PORT, CPU_INFERENCE_PORT, SINGLE_PORT and SINGLE_CPU_PORT the workers; an
explicit PREPROCESS_ENDPOINT (etc.) is passed to the orchestrator as it is.
"""

import os
import signal
import sys
import time
from pathlib import Path

from preprocess_worker.settings import PreprocessSettings
from scripts.export_onnx import export_in_subprocess, is_exported
from scripts.local_stack import (
    ONNX_WORKERS,
    REPO_ROOT,
    WORKERS,
    LocalStack,
    StartupError,
    endpoint_variable,
    ports_from_env,
    print_line,
)
from scripts.prepare_model import prepare
from scripts.write_test_input import write_test_input
from worker_runtime.model_files import DEFAULT_MODEL_ID, ModelUnavailableError
from worker_runtime.startup import load_settings


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start_cpu_inference(model_dir: Path) -> bool:
    """Whether the CPU inference worker can start: model.onnx is there, exported if need be.
    When the export fails, the pipeline runs without it, and says so."""
    if is_exported(model_dir):
        return True
    print(
        "Exporting the model to ONNX for the CPU inference worker (once; a minute or two for "
        "the default model)",
        flush=True,
    )
    failure = export_in_subprocess(model_dir)
    if failure is not None:
        print(
            f"warning: the ONNX export failed ({failure}); starting without the CPU "
            "inference worker, so /classify-smart uses the GPU endpoint alone",
            file=sys.stderr,
        )
        return False
    return True


def main() -> int:
    model_id = os.environ.get("MODEL_ID") or DEFAULT_MODEL_ID
    if Path(model_id).is_dir():
        # The workers run in their own folders: a relative directory must not change meaning.
        model_id = str(Path(model_id).resolve())
    revision = os.environ.get("MODEL_REVISION") or None
    endpoints = {
        variable: os.environ[variable]
        for variable in (endpoint_variable(stage) for stage, _, _ in WORKERS)
        if os.environ.get(variable)
    }
    layout = os.environ.get("LAYOUT", "").strip() or "split"
    stack_options: dict = {
        "layout": layout,
        "env": {"MODEL_ID": model_id, **endpoints},
        "host": os.environ.get("HOST", "127.0.0.1"),
        "sink": print_line,
    }
    try:
        ports = ports_from_env(os.environ)
        stack = LocalStack(ports=ports, **stack_options)
        # Before the model download, which may take minutes.
        stack.check_ports()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Model: {model_id} ({revision or 'main'})", flush=True)
    try:
        # Fetch once here, so the two workers that need it do not download it side by side,
        # and give it a tokenizer.json for the preprocess worker if it ships none.
        path = prepare(model_id, revision, everything=True)
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "hint: without network access, try a tiny random model:\n"
            "  make tiny-model && MODEL_ID=$PWD/.cache/tiny-model make run",
            file=sys.stderr,
        )
        return 1
    print(f"Model files: {path}", flush=True)
    if not start_cpu_inference(path):
        onnx_worker = ONNX_WORKERS[layout]
        stack_options["env"].setdefault(endpoint_variable(onnx_worker), "")
        stack = LocalStack(ports=ports, without=[onnx_worker], **stack_options)
    # Runpod's local test mode input for the inference worker, for this model.
    settings = load_settings(PreprocessSettings, "make run")
    test_input = write_test_input(path, settings.model_copy(update={"model_id": model_id}))
    print(f"Inference worker's test input: {test_input.relative_to(REPO_ROOT)}", flush=True)

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # A shell that starts this in the background without job control hands it SIGINT
    # ignored; Ctrl-C (or a test's SIGINT) must still stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print(
        f"\nPipeline ready at {stack.url}  (API docs: {stack.url}/docs), LAYOUT={layout}\n"
        + "".join(f"  {w.name:<13} worker at {w.url(stack.host)}\n" for w in stack.workers)
        + "".join(f"  the orchestrator calls {k}={v}\n" for k, v in endpoints.items())
        + "Ctrl-C stops them all.\n",
        flush=True,
    )
    try:
        while True:
            dead = stack.dead()
            if dead:
                for service, code in dead:
                    how = (
                        f"was killed by {signal.Signals(-code).name}"
                        if code < 0
                        else (f"exited with code {code}")
                    )
                    print(f"error: the {service.name} process {how}", file=sys.stderr)
                print("stopping the others", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
