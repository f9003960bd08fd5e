"""Start the built CPU images as the compose files wire them and try every part of them.

docker/compose.yaml with compose.cpu.yaml (the pipeline without a GPU) and
compose.hostnet.yaml (host networking, each service on its own free localhost port), from
the images `make images` built. Then `python -m deploy smoke`'s checks run against the
containers: a job on every worker, /classify and /classify-smart; every other route of the
orchestrator (/classify-batch, the single-stage routes, /health, /metrics, /ping, the docs);
and the orchestrator image's own HEALTHCHECK must report healthy. When the inline
orchestrator's image is built too, compose's `inline` profile starts it beside them
(LAYOUT=inline, CPU_INFERENCE_ENDPOINT=inline, its inference endpoint the inference-cpu
container): /classify, /classify-batch and /classify-smart must answer 200 with the CPU
stages run in its own process, and its HEALTHCHECK turn healthy. The containers are removed
afterwards, whatever happened.

    python -m scripts.images_smoke [--timeout SECONDS] [--keep]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from deploy.config import DeployStage
from deploy.smoke import Smoker, SmokeResult, describe_results, run_smoke
from scripts.build_images import image_tag

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILES = ("compose.yaml", "compose.cpu.yaml", "compose.hostnet.yaml")
PROJECT = "sentiment-images-smoke"
RENDERED_COMPOSE = REPO_ROOT / ".cache" / "images" / "compose.smoke.yaml"
# The services compose.cpu.yaml starts, and the port variable compose.hostnet.yaml reads.
PORT_VARIABLES = {
    DeployStage.PREPROCESS: "PREPROCESS_PORT",
    DeployStage.INFERENCE_CPU: "INFERENCE_CPU_PORT",
    DeployStage.POSTPROCESS: "POSTPROCESS_PORT",
    DeployStage.ORCHESTRATOR: "ORCHESTRATOR_PORT",
}
CPU_IMAGES = ("preprocess", "inference-cpu", "postprocess", "orchestrator")
# The inline layout's orchestrator: started (compose profile "inline") only when built.
INLINE_IMAGE = "orchestrator-inline"
INLINE_PROFILE = "inline"
INLINE_PORT_VARIABLE = "ORCHESTRATOR_INLINE_PORT"
SMOKE_TEXT = "The battery life is fantastic and the screen is bright. I'd buy it again!"


class SmokeError(RuntimeError):
    """The containers could not be started or checked; the message says why."""


@dataclass(frozen=True)
class LocalUrls:
    """deploy.smoke's endpoint URLs for containers on localhost ports: an endpoint id here is
    the stage's name."""

    ports: dict[str, int]

    def queue_url(self, endpoint_id: str) -> str:
        return f"http://127.0.0.1:{self.ports[endpoint_id]}"

    def load_balancer_url(self, endpoint_id: str) -> str:
        return self.queue_url(endpoint_id)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compose_command() -> list[str]:
    """`docker compose` (the v2 plugin) where it works, else docker-compose (v1)."""
    docker = os.environ.get("DOCKER", "docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SmokeError("neither `docker compose` nor `docker-compose` is installed")


def compose_args(compose: list[str]) -> list[str]:
    files = [arg for name in COMPOSE_FILES for arg in ("-f", str(REPO_ROOT / "docker" / name))]
    return [*compose, "-p", PROJECT, *files]


def without_host_port_bindings(config: dict[str, Any]) -> dict[str, Any]:
    """The merged compose configuration, less the published ports of host-networked services:
    an override can only add to compose.yaml's `ports`, host networking publishes nothing,
    and docker-compose 1.x refuses the two together where Docker itself ignores the ports."""
    services = {
        name: {k: v for k, v in service.items() if k != "ports"}
        if service.get("network_mode") == "host"
        else service
        for name, service in config["services"].items()
    }
    return {**config, "services": services}


def rendered_compose(compose: list[str], env: dict[str, str], out: Path) -> list[str]:
    """`compose config` of the three files (merged, variables filled in), written to `out`
    without host-networked services' port bindings; the command that runs it."""
    merged = subprocess.run(
        [*compose_args(compose), "config"], env=env, capture_output=True, text=True, check=False
    )
    if merged.returncode != 0:
        raise SmokeError(f"the compose files do not merge: {merged.stderr.strip()[-500:]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = without_host_port_bindings(yaml.safe_load(merged.stdout))
    out.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    return [*compose, "-p", PROJECT, "-f", str(out)]


def is_built(docker: str, image: str) -> bool:
    inspect = [docker, "image", "inspect", image_tag(image)]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


def missing_images(docker: str) -> list[str]:
    return [image_tag(image) for image in CPU_IMAGES if not is_built(docker, image)]


# (method, path, body, what a good answer holds)
RouteCheck = tuple[str, str, Any, Callable[[Any], bool]]
TWO_TEXTS = [{"text": SMOKE_TEXT}, {"text": "Terrible, it broke after a day."}]


def route_checks() -> list[RouteCheck]:
    """(method, path, body, what a good answer holds) for every route deploy smoke leaves out."""
    postprocess_input = json.loads(
        (REPO_ROOT / "postprocess_worker" / "test_input.json").read_text("utf-8")
    )["input"]
    inference_input = {"cleaned_text": SMOKE_TEXT, "word_count": 14}

    def labelled(body: Any) -> bool:
        return isinstance(body, dict) and bool(body.get("predictions") or body.get("items"))

    return [
        ("GET", "/ping", None, lambda body: True),
        ("GET", "/health", None, lambda body: body.get("status") == "ok"),
        ("GET", "/metrics", None, lambda text: "classify" in text),
        ("GET", "/openapi.json", None, lambda body: "/classify" in body.get("paths", {})),
        ("GET", "/docs", None, lambda text: "swagger" in text.lower()),
        ("GET", "/redoc", None, lambda text: "redoc" in text.lower()),
        ("POST", "/classify-batch", TWO_TEXTS, lambda body: len(body.get("results", [])) == 2),
        ("POST", "/cpu/preprocess", {"text": SMOKE_TEXT}, lambda body: bool(body.get("windows"))),
        ("POST", "/gpu/inference", inference_input, labelled),
        ("POST", "/cpu/inference", inference_input, labelled),
        ("POST", "/cpu/postprocess", postprocess_input, lambda answer: answer["classification"]),
    ]


def in_process(timings: dict[str, Any], *stages: str) -> bool:
    return all((timings.get(stage) or {}).get("in_process") is True for stage in stages)


def ran_here(answer: Any) -> str:
    """Which stages of a pipeline answer ran in the orchestrator's own process, if any."""
    timings = answer.get("timings") if isinstance(answer, dict) else None
    if not isinstance(timings, dict):
        return ""
    here = [
        stage for stage in ("preprocess", "inference", "postprocess") if in_process(timings, stage)
    ]
    return f"in process: {', '.join(here)}" if here else ""


def inline_checks() -> list[RouteCheck]:
    """The inline orchestrator's pipeline routes: preprocess and postprocess in its own
    process, inference on the inference-cpu container, and a short text's /classify-smart
    inference in its process too (CPU_INFERENCE_ENDPOINT=inline)."""

    def cpu_stages_here(body: Any) -> bool:
        timings = body["timings"]
        return in_process(timings, "preprocess", "postprocess") and not in_process(
            timings, "inference"
        )

    def all_stages_here(body: Any) -> bool:
        routed = body["route"]["endpoint"] == "cpu"
        return routed and in_process(body["timings"], "preprocess", "inference", "postprocess")

    return [
        ("POST", "/classify", {"text": SMOKE_TEXT}, cpu_stages_here),
        (
            "POST",
            "/classify-batch",
            TWO_TEXTS,
            lambda body: len(body["results"]) == 2 and cpu_stages_here(body),
        ),
        ("POST", "/classify-smart", {"text": SMOKE_TEXT}, all_stages_here),
    ]


def check_routes(
    base: str, checks: list[RouteCheck], timeout_s: float = 60.0, label: str = ""
) -> list[SmokeResult]:
    """Each check against `base`; `label` goes before each path in the results."""
    results = []
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        for method, path, body, good in checks:
            tried = f"{label}{path}"
            started = time.monotonic()
            try:
                response = client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                results.append(
                    SmokeResult(tried, False, type(exc).__name__, time.monotonic() - started)
                )
                continue
            elapsed = time.monotonic() - started
            json_answer = response.headers.get("content-type", "").startswith("application/json")
            answer = response.json() if json_answer else response.text
            try:
                ok = response.status_code == 200 and bool(good(answer))
            except (AttributeError, KeyError, TypeError):
                ok = False
            detail = ran_here(answer) if ok else str(answer)[:200]
            status = f"HTTP {response.status_code}"
            results.append(SmokeResult(tried, ok, status, elapsed, detail=detail))
    return results


def wait_until_answering(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise SmokeError(f"{url} did not answer within {timeout_s:.0f} s")


def healthchecks(
    docker: str, compose: list[str], env: dict[str, str], timeout_s: float
) -> list[SmokeResult]:
    """Each container whose image declares a HEALTHCHECK must become healthy."""
    ids = subprocess.run(
        [*compose, "ps", "-q"], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    results = []
    for container in ids:
        started = time.monotonic()
        inspect = [docker, "inspect", "--format", "{{.Name}} {{json .State.Health}}", container]
        while True:
            name, _, health = (
                subprocess.run(inspect, capture_output=True, text=True, check=True)
                .stdout.strip()
                .partition(" ")
            )
            state = json.loads(health) if health not in ("", "null") else None
            status = state["Status"] if state else "none"
            if status in ("healthy", "unhealthy", "none") or (
                time.monotonic() - started > timeout_s
            ):
                break
            time.sleep(2.0)
        if status == "none":
            continue  # no HEALTHCHECK in this image
        last = (state or {}).get("Log") or [{}]
        detail = "" if status == "healthy" else str(last[-1].get("Output", ""))[:200]
        results.append(
            SmokeResult(
                f"HEALTHCHECK {name.lstrip('/')}",
                status == "healthy",
                status,
                time.monotonic() - started,
                detail=detail,
            )
        )
    if not results:
        results.append(SmokeResult("HEALTHCHECK", False, "none", 0.0, detail="no image has one"))
    return results


def smoke(timeout_s: float, keep: bool) -> list[SmokeResult]:
    docker = os.environ.get("DOCKER", "docker")
    if missing := missing_images(docker):
        raise SmokeError(f"not built: {', '.join(missing)}; run `make images` first")
    ports = {stage: free_port() for stage in PORT_VARIABLES}
    inline_port = free_port()
    env = {
        **os.environ,
        **{PORT_VARIABLES[s]: str(p) for s, p in ports.items()},
        INLINE_PORT_VARIABLE: str(inline_port),
    }
    inline = is_built(docker, INLINE_IMAGE)
    if inline:
        # For `compose config` and every later command: the profile's service is started,
        # listed and removed with the others.
        env["COMPOSE_PROFILES"] = INLINE_PROFILE
    else:
        print(
            f"skipping the inline orchestrator: {image_tag(INLINE_IMAGE)} is not built "
            f'(make images IMAGES_ARGS="--only {INLINE_IMAGE}")',
            flush=True,
        )
    compose = rendered_compose(compose_command(), env, RENDERED_COMPOSE)
    try:
        subprocess.run([*compose, "up", "-d", "--no-build"], env=env, check=True)
        orchestrator = f"http://127.0.0.1:{ports[DeployStage.ORCHESTRATOR]}"
        wait_until_answering(f"{orchestrator}/ping", timeout_s)
        urls = LocalUrls({stage.value: port for stage, port in ports.items()})
        smoker = Smoker(urls, "local", timeout_s=timeout_s, poll_s=1.0)  # type: ignore[arg-type]
        try:
            results = run_smoke(smoker, {stage: stage.value for stage in ports})
        finally:
            smoker.close()
        results += check_routes(orchestrator, route_checks())
        if inline:
            inline_url = f"http://127.0.0.1:{inline_port}"
            wait_until_answering(f"{inline_url}/ping", timeout_s)
            results += check_routes(inline_url, inline_checks(), label="inline ")
        results += healthchecks(docker, compose, env, timeout_s)
        return results
    except subprocess.CalledProcessError as exc:
        raise SmokeError(f"`{' '.join(map(str, exc.cmd[:8]))} ...` failed") from None
    finally:
        if not keep:
            subprocess.run([*compose, "logs", "--tail", "20"], env=env, check=False)
            subprocess.run([*compose, "down", "--remove-orphans"], env=env, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per check")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()
    try:
        results = smoke(args.timeout, args.keep)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(describe_results(results))
    failed = [r.tried for r in results if not r.ok]
    print("images smoke: " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
