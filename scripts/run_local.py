"""`make run`: the whole pipeline on this machine, at http://localhost:8888.

Fetches the model once (MODEL_ID may name a local directory instead), starts the three
workers in Runpod's local API mode and the orchestrator, and watches them: Ctrl-C stops
all four, and a worker that dies is reported and stops the rest. PORT moves the
orchestrator, PREPROCESS_PORT, INFERENCE_PORT and POSTPROCESS_PORT the workers; an
explicit PREPROCESS_ENDPOINT (etc.) is passed to the orchestrator as it is.
"""

import os
import signal
import sys
import time
from pathlib import Path

from contracts.model_source import DEFAULT_MODEL_ID, ModelUnavailableError
from contracts.startup import load_settings
from preprocess_worker.settings import PreprocessSettings
from scripts.local_stack import (
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


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
    try:
        stack = LocalStack(
            env={"MODEL_ID": model_id, **endpoints},
            ports=ports_from_env(os.environ),
            host=os.environ.get("HOST", "127.0.0.1"),
            sink=print_line,
        )
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
    # Runpod's local test mode input for the inference worker, for this model.
    settings = load_settings(PreprocessSettings, "make run")
    test_input = write_test_input(path, settings.model_copy(update={"model_id": model_id}))
    print(f"Inference worker's test input: {test_input.relative_to(REPO_ROOT)}", flush=True)

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        stack.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print(
        f"\nPipeline ready at {stack.url}  (API docs: {stack.url}/docs)\n"
        + "".join(f"  {w.name:<12} worker at {w.url(stack.host)}\n" for w in stack.workers)
        + "".join(f"  the orchestrator calls {k}={v}\n" for k, v in endpoints.items())
        + "Ctrl-C stops all four.\n",
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
