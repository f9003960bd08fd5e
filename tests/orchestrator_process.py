"""The orchestrator as a real process (`python -m orchestrator`) in front of the stand-in for
Runpod's hosted API: for what only a real process shows (signals, its own event loop)."""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import IO

from scripts.local_stack import REPO_ROOT, free_port, wait_until_answers
from tests.fake_runpod import API_KEY, FakeRunpod


@dataclass
class Orchestrator:
    process: subprocess.Popen
    url: str
    # Its output, in a file: a pipe nobody reads would fill and stop it.
    log: IO[str]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def start_orchestrator(fake: FakeRunpod, **env: str) -> Orchestrator:
    """Started and answering /ping; the stages are the stand-in's `echo` unless `env` says."""
    port = free_port()
    environ = {
        **os.environ,
        "RUNPOD_API_KEY": API_KEY,
        "RUNPOD_API_BASE": f"{fake.url}/v2",
        "PREPROCESS_ENDPOINT": "echo",
        "INFERENCE_ENDPOINT": "echo",
        "POSTPROCESS_ENDPOINT": "echo",
        "CPU_INFERENCE_ENDPOINT": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by Orchestrator.stop)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    orchestrator = Orchestrator(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_answers(
            process, f"{orchestrator.url}/ping", 60, "orchestrator", orchestrator.output
        )
    except BaseException:
        orchestrator.stop()
        raise
    return orchestrator
