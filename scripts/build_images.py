"""Build every image in docker/ with the local Docker engine, offline, and report their sizes.

The models come from a local directory (default: the tiny random test model), given to the
Dockerfiles as their "context" model source (MODEL_SOURCE=context, see docker/*.Dockerfile),
so no build downloads a model. The images get the tags docker/compose.yaml gives them, so
`make images-smoke` starts exactly these.

Each Dockerfile is built from a copy without its `# syntax=` line and its HF_TOKEN secret
mount: the line pins a Dockerfile frontend that BuildKit fetches from Docker Hub, and the
mount's `env=` form needs that newer frontend; a local model needs no token. Where the
engine stores every layer in full (the vfs storage driver), the build cache is pruned when
the disk runs short and at the end, and an image is skipped, not started, when the disk's
free space would drop below --min-free-gb.

    python -m scripts.build_images [--model DIR] [--only NAME ...] [--min-free-gb N]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scripts.export_onnx import export_in_subprocess, is_exported
from scripts.make_tiny_model import ensure_random_model

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKER_DIR = REPO_ROOT / "docker"
# Where the Dockerfiles' "context" model source reads the model (the build context's
# .cache/image-model/, let in by .dockerignore), and where the image finds it.
CONTEXT_MODEL_DIR = REPO_ROOT / ".cache" / "image-model"
IMAGE_MODEL_ID = "/opt/hf-home/local-model"
WORK_DIR = REPO_ROOT / ".cache" / "images"
TINY_MODEL_DIR = REPO_ROOT / ".cache" / "tiny-model"
# Every image, CPU ones first: the CUDA ones are the largest and are built last, if they fit.
IMAGES = (
    "postprocess",
    "orchestrator",
    "preprocess",
    "inference-cpu",
    "orchestrator-inline",
    "single-cpu",
    "inference",
    "single",
)
# Every image but these two bakes the model.
MODEL_IMAGES = set(IMAGES) - {"postprocess", "orchestrator"}
# The images with torch's CUDA build.
CUDA_IMAGES = ("inference", "single")
# What each build may take on top of the free-space floor. The CUDA image's virtualenv (torch
# and the CUDA libraries it requires) is copied in full into each later layer of its model
# and runtime stages under vfs: README "Images" has the estimate.
DEFAULT_NEEDS_GB = {"inference": 90.0}
SMALL_IMAGE_NEEDS_GB = 5.0
SYNTAX_LINE = re.compile(r"^# syntax=.*\n", re.MULTILINE)
SECRET_MOUNT = re.compile(r"--mount=type=secret,id=HF_TOKEN,env=HF_TOKEN \\\n\s*")


class BuildError(RuntimeError):
    """A build could not run; the message says what to do."""


@dataclass
class Built:
    image: str
    tag: str
    size_bytes: int | None
    skipped: str = ""

    def describe(self) -> str:
        if self.skipped:
            return f"{self.image:<14} {self.tag:<32} not built: {self.skipped}"
        assert self.size_bytes is not None
        return f"{self.image:<14} {self.tag:<32} {self.size_bytes / 1e6:>9,.0f} MB"


def image_tag(image: str) -> str:
    """The tag docker/compose.yaml gives the image."""
    return f"sentiment-{image}:local"


def offline_dockerfile(text: str) -> str:
    """The Dockerfile as BuildKit's built-in frontend builds it from a local model."""
    return SECRET_MOUNT.sub("", SYNTAX_LINE.sub("", text, count=1))


def _client_version(docker: str) -> tuple[int, ...]:
    result = subprocess.run(
        [docker, "version", "--format", "{{.Client.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.match(r"(\d+)\.(\d+)", result.stdout.strip())
    return tuple(int(part) for part in match.groups()) if match else ()


def _has_buildx(docker: str) -> bool:
    result = subprocess.run([docker, "buildx", "version"], capture_output=True, check=False)
    return result.returncode == 0


def build_command(docker: str, buildx: bool) -> list[str]:
    """`docker buildx build --load`, or `docker build` where the client has BuildKit built in."""
    return [docker, "buildx", "build", "--load"] if buildx else [docker, "build"]


def choose_docker(candidates: Iterable[str]) -> tuple[str, bool]:
    """The first docker client that builds with BuildKit: one with the buildx plugin, or one
    older than 23.0, whose BuildKit is built in (newer clients need buildx for it)."""
    seen = []
    for docker in candidates:
        seen.append(docker)
        if _has_buildx(docker):
            return docker, True
        version = _client_version(docker)
        if version and version < (23,):
            return docker, False
    if not seen:
        raise BuildError("no `docker` on PATH: install Docker (or start the container engine)")
    raise BuildError(
        f"{', '.join(seen)}: no BuildKit (install the docker buildx plugin); the images use "
        "multi-stage builds that the legacy builder cannot build"
    )


def docker_candidates() -> list[str]:
    """DOCKER if set, else every `docker` on PATH, in PATH order."""
    if os.environ.get("DOCKER"):
        return [os.environ["DOCKER"]]
    found = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder) / "docker"
        if path.is_file() and os.access(path, os.X_OK) and str(path) not in found:
            found.append(str(path))
    return found


def prepare_context_model(model_dir: Path, target: Path = CONTEXT_MODEL_DIR) -> Path:
    """Copy the model into the build context and export its model.onnx (for the CPU
    inference, all-stage CPU and inline orchestrator images, whose "context" builds install
    no torch)."""
    if not (model_dir / "config.json").is_file():
        raise BuildError(f"{model_dir} is not a model directory (no config.json)")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(model_dir, target, symlinks=False)
    if not is_exported(target):
        error = export_in_subprocess(target)
        if error is not None:
            raise BuildError(f"exporting {model_dir} to ONNX failed: {error}")
    return target


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e9


def build_image(docker: list[str], image: str, work_dir: Path = WORK_DIR) -> None:
    source = DOCKER_DIR / f"{image}.Dockerfile"
    work_dir.mkdir(parents=True, exist_ok=True)
    dockerfile = work_dir / source.name
    dockerfile.write_text(offline_dockerfile(source.read_text("utf-8")), "utf-8")
    args = [*docker, "--network", "host", "-f", str(dockerfile), "-t", image_tag(image)]
    if image in MODEL_IMAGES:
        args += ["--build-arg", "MODEL_SOURCE=context", "--build-arg", f"MODEL_ID={IMAGE_MODEL_ID}"]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    result = subprocess.run([*args, str(REPO_ROOT)], env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"building {image} failed (exit {result.returncode}); see above")


def image_size(docker: str, tag: str) -> int:
    result = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Size}}", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


def docker_root(docker: str) -> Path:
    result = subprocess.run(
        [docker, "info", "--format", "{{.DockerRootDir}}"], capture_output=True, text=True
    )
    root = Path(result.stdout.strip() or "/")
    return root if root.exists() else Path("/")


def prune_build_cache(docker: str) -> None:
    """The build cache, and the images a rebuild left without a tag."""
    subprocess.run([docker, "builder", "prune", "--all", "--force"], capture_output=True)
    subprocess.run([docker, "image", "prune", "--force"], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local model directory (default: tiny)")
    parser.add_argument("--only", nargs="+", choices=IMAGES, help="these images only")
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=30.0,
        help="leave at least this much disk free: an image whose build could take it lower "
        "is skipped",
    )
    parser.add_argument(
        "--cuda-needs-gb",
        type=float,
        default=DEFAULT_NEEDS_GB["inference"],
        help="disk a CUDA image's build may take (inference, single)",
    )
    parser.add_argument("--out", type=Path, default=WORK_DIR / "sizes.json")
    parser.add_argument(
        "--keep-cache", action="store_true", help="keep the build cache (faster rebuilds)"
    )
    args = parser.parse_args()
    try:
        docker, buildx = choose_docker(docker_candidates())
        model_dir = args.model or ensure_random_model(TINY_MODEL_DIR)
        images = args.only or IMAGES
        if MODEL_IMAGES & set(images):
            print(f"model: {prepare_context_model(model_dir)} (from {model_dir})", flush=True)
        needs = dict.fromkeys(CUDA_IMAGES, args.cuda_needs_gb)
        root = docker_root(docker)
        results = []
        for image in images:
            need = needs.get(image, SMALL_IMAGE_NEEDS_GB)
            free = free_gb(root)
            if free - need < args.min_free_gb:
                # Earlier builds' cache first: under vfs it holds every layer in full.
                prune_build_cache(docker)
                free = free_gb(root)
            if free - need < args.min_free_gb:
                reason = (
                    f"{free:.0f} GB free, the build may take {need:.0f} GB, and "
                    f"{args.min_free_gb:.0f} GB must stay free"
                )
                results.append(Built(image, image_tag(image), None, reason))
                print(f"skipping {image}: {reason}", flush=True)
                continue
            print(f"building {image} ({free:.0f} GB free)", flush=True)
            build_image(build_command(docker, buildx), image)
            results.append(Built(image, image_tag(image), image_size(docker, image_tag(image))))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.keep_cache:
        prune_build_cache(docker)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n", "utf-8")
    print("\n".join(r.describe() for r in results))
    print(f"free disk after the builds: {free_gb(root):.0f} GB; sizes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
