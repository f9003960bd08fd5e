"""`python -m orchestrator` as a process: a configuration it cannot run with stops it at start."""

import os
import subprocess
import sys

from scripts.local_stack import REPO_ROOT, free_port


def start_orchestrator(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m orchestrator` with `env`, for a configuration that stops it before it serves."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hosted_endpoint_ids_without_an_api_key_stop_the_orchestrator_at_start():
    env = {k: v for k, v in os.environ.items() if k != "RUNPOD_API_KEY"}
    env.update(INFERENCE_ENDPOINT="abc123xyz", PORT=str(free_port()))
    result = start_orchestrator(env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "orchestrator cannot start: invalid configuration: RUNPOD_API_KEY: required, because "
        "INFERENCE_ENDPOINT names a hosted endpoint (set it to your Runpod API key)"
    ]


def test_an_open_orchestrator_with_hosted_endpoints_warns_once_at_start():
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_KEYS")}
    # An address of the documentation range, which nothing here has: the warning comes
    # before listening, and the server then stops without ever accepting a connection.
    env.update(
        INFERENCE_ENDPOINT="abc123xyz",
        RUNPOD_API_KEY="rp_not_a_real_key",
        HOST="192.0.2.1",
        PORT=str(free_port()),
    )
    result = start_orchestrator(env)
    warnings = [line for line in result.stderr.splitlines() if "WARNING orchestrator:" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].endswith(
        f"anyone who can reach HOST=192.0.2.1 port {env['PORT']} can run jobs on "
        "INFERENCE_ENDPOINT with this RUNPOD_API_KEY: set API_KEYS or API_KEYS_FILE "
        "(see the README's Caller keys), or HOST=127.0.0.1"
    )
    assert "rp_not_a_real_key" not in result.stderr and "abc123xyz" not in result.stderr
