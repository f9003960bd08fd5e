"""`python -m orchestrator` as a process: a configuration it cannot run with stops it at start."""

import os
import subprocess
import sys

from scripts.local_stack import REPO_ROOT, free_port


def test_hosted_endpoint_ids_without_an_api_key_stop_the_orchestrator_at_start():
    env = {k: v for k, v in os.environ.items() if k != "RUNPOD_API_KEY"}
    env.update(INFERENCE_ENDPOINT="abc123xyz", PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "orchestrator cannot start: invalid configuration: RUNPOD_API_KEY: required, because "
        "INFERENCE_ENDPOINT names a hosted endpoint (set it to your Runpod API key)"
    ]
