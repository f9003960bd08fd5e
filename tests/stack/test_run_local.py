"""`make run` (scripts/run_local.py): its ports come from the environment, a taken port is
named with the variable that moves it, and it writes the inference worker's test input."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.local_stack import LocalStack, StartupError, free_port, ports_from_env
from scripts.write_test_input import DEFAULT_OUT as TEST_INPUT

REPO_ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLES = (
    "PORT",
    "PREPROCESS_PORT",
    "INFERENCE_PORT",
    "POSTPROCESS_PORT",
    "CPU_INFERENCE_PORT",
)
ENDPOINT_VARIABLES = (
    "PREPROCESS_ENDPOINT",
    "INFERENCE_ENDPOINT",
    "POSTPROCESS_ENDPOINT",
    "CPU_INFERENCE_ENDPOINT",
)


def run_local_env(**extra: str) -> dict[str, str]:
    """This environment without any port or endpoint a developer may have set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {*PORT_VARIABLES, *ENDPOINT_VARIABLES, "HOST"}
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_ports_come_from_their_variables() -> None:
    env = {"PORT": "9000", "INFERENCE_PORT": " 9002 ", "PREPROCESS_PORT": ""}
    assert ports_from_env(env) == {"orchestrator": 9000, "inference": 9002}


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1", "80.5"])
def test_a_bad_port_value_names_its_variable(value: str) -> None:
    with pytest.raises(StartupError, match=rf"^POSTPROCESS_PORT='{value}' is not a port number"):
        ports_from_env({"POSTPROCESS_PORT": value})


def test_a_taken_port_names_the_variable_to_change(listening_port: int) -> None:
    ports = {"preprocess": free_port(), "inference": listening_port, "postprocess": free_port()}
    stack = LocalStack(ports={**ports, "orchestrator": free_port()})
    with pytest.raises(StartupError) as caught:
        stack.check_ports()
    message = str(caught.value)
    assert f"inference: port {listening_port} is in use; set INFERENCE_PORT to a free port" in (
        message
    )
    assert message.count("is in use") == 1


def test_a_stack_without_the_cpu_inference_worker_tells_the_orchestrator_so() -> None:
    ports = {name: free_port() for name in ("preprocess", "inference", "postprocess")}
    stack = LocalStack(ports=ports, without=["cpu_inference"])
    assert [w.name for w in stack.workers] == ["preprocess", "inference", "postprocess"]
    assert stack._env["CPU_INFERENCE_ENDPOINT"] == ""
    full = LocalStack(ports=ports)
    [cpu] = [w for w in full.workers if w.name == "cpu_inference"]
    assert cpu.env == {"BACKEND": "onnx"} and cpu.cwd.name == "inference_worker"
    assert full._env["CPU_INFERENCE_ENDPOINT"] == cpu.url(full.host)


def test_two_services_on_one_port_are_refused() -> None:
    port = free_port()
    stack = LocalStack(ports={"orchestrator": port, "preprocess": port})
    with pytest.raises(StartupError, match=r"PREPROCESS_PORT \(preprocess\) and PORT"):
        stack.check_ports()


def test_run_local_stops_at_a_taken_port_before_fetching_the_model(listening_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.run_local"],
        cwd=REPO_ROOT,
        env=run_local_env(PORT=str(listening_port), MODEL_ID="no-such-org/no-such-model"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"orchestrator: port {listening_port} is in use; set PORT to a free port" in (
        result.stderr
    )
    assert "Model:" not in result.stdout
    assert "Traceback" not in result.stderr


def test_run_local_refuses_a_bad_port_value() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.run_local"],
        cwd=REPO_ROOT,
        env=run_local_env(INFERENCE_PORT="http"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: INFERENCE_PORT='http' is not a port number (1 to 65535)"


@pytest.fixture
def kept_test_input() -> Iterator[None]:
    """run_local writes inference_worker/test_input.json: put back what was there."""
    before = TEST_INPUT.read_bytes() if TEST_INPUT.exists() else None
    yield
    if before is None:
        TEST_INPUT.unlink(missing_ok=True)
    else:
        TEST_INPUT.write_bytes(before)


@pytest.mark.slow
def test_run_local_serves_on_the_ports_it_is_given(
    tiny_onnx_model_dir: Path, tmp_path: Path, kept_test_input: None
) -> None:
    ports = {variable: free_port() for variable in PORT_VARIABLES}
    elsewhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = run_local_env(
        # With its model.onnx already exported (run_local exports it otherwise).
        MODEL_ID=str(tiny_onnx_model_dir),
        POSTPROCESS_ENDPOINT=elsewhere,
        **{variable: str(port) for variable, port in ports.items()},
    )
    log = tmp_path / "run_local.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_local"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{ports['PORT']}"
    try:
        deadline = time.monotonic() + 180
        while "Pipeline ready at" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.25)
        health = httpx.get(f"{url}/health", timeout=30).json()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"make run did not stop within 60 s of Ctrl-C:\n{log.read_text()}")
    output = log.read_text()
    assert code == 0, output
    assert f"Pipeline ready at {url}" in output
    for stage in ("preprocess", "inference", "postprocess", "cpu_inference"):
        assert f"worker at http://127.0.0.1:{ports[f'{stage.upper()}_PORT']}" in output
    # The orchestrator calls the workers on their ports, and an endpoint that was set as set.
    stages = health["stages"]
    assert stages["preprocess"]["status"] == stages["inference"]["status"] == "ok", health
    assert stages["inference_cpu"]["status"] == "ok", health
    assert "Exporting the model to ONNX" not in output
    # /health is unauthenticated: it says the stage is unreachable, never where it points.
    assert stages["postprocess"] == {"status": "unreachable"}
    assert f"the orchestrator calls POSTPROCESS_ENDPOINT={elsewhere}" in output
    # And Runpod's local test mode input for this model, as the pipeline sends it.
    assert str(tiny_onnx_model_dir) in TEST_INPUT.read_text()


def test_the_onnx_export_runs_once_and_again_when_the_weights_change(tmp_path: Path, monkeypatch):
    from scripts import export_onnx, run_local

    exports: list[list[str]] = []

    def export(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        exports.append(command)
        (Path(command[-1]) / "model.onnx").write_bytes(b"onnx")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(export_onnx.subprocess, "run", export)
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    assert run_local.start_cpu_inference(tmp_path) and run_local.start_cpu_inference(tmp_path)
    assert len(exports) == 1
    later = (tmp_path / "model.onnx").stat().st_mtime + 10
    os.utime(tmp_path / "model.safetensors", (later, later))
    assert run_local.start_cpu_inference(tmp_path)
    assert len(exports) == 2


def test_a_failed_onnx_export_starts_the_pipeline_without_the_cpu_worker(
    tmp_path: Path, monkeypatch, capsys
):
    from scripts import export_onnx, run_local

    def fail(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        (Path(command[-1]) / "model.onnx").write_bytes(b"half")
        return subprocess.CompletedProcess(command, 1, "", "Traceback...\nValueError: no such op")

    monkeypatch.setattr(export_onnx.subprocess, "run", fail)
    assert not run_local.start_cpu_inference(tmp_path)
    assert not (tmp_path / "model.onnx").exists()  # no half-written file left behind
    assert capsys.readouterr().err.strip() == (
        "warning: the ONNX export failed (ValueError: no such op); starting without the CPU "
        "inference worker, so /classify-smart uses the GPU endpoint alone"
    )
