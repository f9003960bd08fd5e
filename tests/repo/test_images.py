"""`make images` and `make images-smoke` without a Docker engine: the Dockerfile copies they
build, the docker client they pick, the host-network overlay and what the smoke starts. The
builds and the smoke themselves run with a real engine (`make images && make images-smoke`,
README "Images"), not in `make test`."""

import stat
from pathlib import Path

import pytest
import yaml

from scripts.build_images import (
    IMAGES,
    BuildError,
    choose_docker,
    image_tag,
    offline_dockerfile,
)
from scripts.images_smoke import (
    COMPOSE_FILES,
    INLINE_IMAGE,
    INLINE_PORT_VARIABLE,
    INLINE_PROFILE,
    PORT_VARIABLES,
    inline_checks,
    ran_here,
    without_host_port_bindings,
)
from tests.repo.test_dockerfiles import (
    COMPOSE_FILE,
    CONTEXT_MODEL,
    DOCKER_DIR,
    MODEL_IMAGES,
    dockerfile_path,
    load_compose,
    merged,
    parse_dockerfile,
)

HOSTNET_FILE = DOCKER_DIR / "compose.hostnet.yaml"


@pytest.mark.parametrize("image", IMAGES)
def test_the_offline_copy_drops_only_the_syntax_line_and_the_token_mount(
    image: str, tmp_path: Path
) -> None:
    source = dockerfile_path(image)
    text = source.read_text("utf-8")
    copy = tmp_path / source.name
    copy.write_text(offline_dockerfile(text), "utf-8")
    assert text.startswith("# syntax=") and "# syntax=" not in copy.read_text("utf-8")

    def instructions(path: Path) -> list[tuple[str, str]]:
        return [(i.keyword, i.args) for s in parse_dockerfile(path) for i in s.instructions]

    mount = "--mount=type=secret,id=HF_TOKEN,env=HF_TOKEN "
    expected = [(k, a.replace(mount, "").strip()) for k, a in instructions(source)]
    assert instructions(copy) == expected
    assert not any("--mount" in args for _, args in instructions(copy))


@pytest.mark.parametrize("image", sorted(MODEL_IMAGES))
def test_a_hub_build_never_reads_the_local_model(image: str) -> None:
    text = dockerfile_path(image).read_text("utf-8")
    assert "\nARG MODEL_SOURCE=hub\n" in text
    for stage in parse_dockerfile(dockerfile_path(image)):
        for instruction in stage.all("COPY"):
            if CONTEXT_MODEL in instruction.args:
                # Built only when MODEL_SOURCE=context names it.
                assert stage.name and stage.name.endswith("-context"), instruction.line


def test_the_images_get_the_tags_compose_runs() -> None:
    services = load_compose()["services"]
    assert {image_tag(name) for name in IMAGES} == {s["image"] for s in services.values()}


def fake_docker(folder: Path, version: str, buildx: bool) -> str:
    folder.mkdir(parents=True)
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = version ]; then echo {version}; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_the_client_chosen_builds_with_buildkit(tmp_path: Path) -> None:
    new_without_buildx = fake_docker(tmp_path / "a", "28.2.2", buildx=False)
    old_with_builtin = fake_docker(tmp_path / "b", "20.10.24+dfsg1", buildx=False)
    new_with_buildx = fake_docker(tmp_path / "c", "28.2.2", buildx=True)
    assert choose_docker([new_without_buildx, old_with_builtin]) == (old_with_builtin, False)
    assert choose_docker([new_with_buildx, old_with_builtin]) == (new_with_buildx, True)
    with pytest.raises(BuildError, match="buildx"):
        choose_docker([new_without_buildx])
    with pytest.raises(BuildError, match="no `docker`"):
        choose_docker([])


def test_compose_files_have_no_top_level_name() -> None:
    """docker-compose 1.x (Debian's, among others) refuses a file with one."""
    for name in COMPOSE_FILES:
        assert "name" not in load_compose(DOCKER_DIR / name)


def test_the_host_network_overlay_puts_each_service_on_its_own_local_port() -> None:
    base = merged(load_compose(COMPOSE_FILE), load_compose(DOCKER_DIR / "compose.cpu.yaml"))
    overlay = load_compose(HOSTNET_FILE)
    # The CPU pipeline, and the inline orchestrator that the smoke's profile adds when built.
    started = {n for n, s in base["services"].items() if not s.get("profiles")}
    assert base["services"][INLINE_IMAGE]["profiles"] == [INLINE_PROFILE]
    assert set(overlay["services"]) == started | {INLINE_IMAGE}
    variables = {stage.value.replace("_", "-"): v for stage, v in PORT_VARIABLES.items()}
    assert set(variables) == started
    variables[INLINE_IMAGE] = INLINE_PORT_VARIABLE
    assert len(set(variables.values())) == len(variables)
    text = HOSTNET_FILE.read_text("utf-8")
    assert "0.0.0.0" not in text.split("services:", 1)[1]
    for name, service in overlay["services"].items():
        assert service["network_mode"] == "host"
        if name in ("orchestrator", INLINE_IMAGE):
            continue
        command = service["command"]
        assert command[command.index("--rp_api_host") + 1] == "127.0.0.1"
        assert command[command.index("--rp_api_port") + 1].startswith(f"${{{variables[name]}:-")
    env = overlay["services"]["orchestrator"]["environment"]
    assert env["HOST"] == "127.0.0.1" and env["PORT"].startswith("${ORCHESTRATOR_PORT:-")
    for key, service in (
        ("PREPROCESS_ENDPOINT", "preprocess"),
        ("INFERENCE_ENDPOINT", "inference-cpu"),
        ("CPU_INFERENCE_ENDPOINT", "inference-cpu"),
        ("POSTPROCESS_ENDPOINT", "postprocess"),
    ):
        assert env[key].startswith(f"http://127.0.0.1:${{{variables[service]}:-"), key
    # The inline orchestrator: its own port, the stages but inference in its process.
    inline = merged(base, overlay)["services"][INLINE_IMAGE]["environment"]
    assert inline["HOST"] == "127.0.0.1"
    assert inline["PORT"].startswith(f"${{{INLINE_PORT_VARIABLE}:-")
    assert inline["INFERENCE_ENDPOINT"].startswith(
        f"http://127.0.0.1:${{{variables['inference-cpu']}:-"
    )
    assert inline["CPU_INFERENCE_ENDPOINT"] == "inline"


def test_host_networked_services_lose_only_their_published_ports() -> None:
    config = merged(load_compose(COMPOSE_FILE), load_compose(DOCKER_DIR / "compose.cpu.yaml"))
    config = merged(config, load_compose(HOSTNET_FILE))
    assert config["services"]["orchestrator"]["ports"]
    stripped = without_host_port_bindings(config)
    assert "ports" not in stripped["services"]["orchestrator"]
    for name, service in config["services"].items():
        expected = {k: v for k, v in service.items() if k != "ports"}
        if service.get("network_mode") != "host":
            expected = service
        assert stripped["services"][name] == expected
    assert yaml.safe_dump(stripped)  # what the smoke writes and starts


def test_the_make_targets_exist() -> None:
    text = (Path(__file__).resolve().parents[2] / "Makefile").read_text("utf-8")
    assert "images: $(STAMP)" in text and "-m scripts.build_images" in text
    assert "images-smoke: $(STAMP)" in text and "-m scripts.images_smoke" in text
    # Not part of the offline suite.
    test_rule = next(line for line in text.splitlines() if line.startswith("test:"))
    assert "images" not in test_rule


def test_the_inline_checks_want_the_cpu_stages_in_the_orchestrators_process() -> None:
    here = {"in_process": True, "round_trip_ms": 1.0}
    hop = {"round_trip_ms": 9.0}
    inline = {"preprocess": here, "inference": hop, "postprocess": here}
    split = {"preprocess": hop, "inference": hop, "postprocess": hop}
    smart = {"endpoint": "cpu", "reason": "short_text"}
    good = {
        "/classify": {"timings": inline},
        "/classify-batch": {"results": [{}, {}], "timings": inline},
        "/classify-smart": {"route": smart, "timings": {**inline, "inference": here}},
    }
    checks = {path: check for _, path, _, check in inline_checks()}
    assert set(checks) == set(good)
    for path, check in checks.items():
        assert check(good[path]), path
        assert not check({**good[path], "timings": split}), path
    assert not checks["/classify-smart"]({**good["/classify-smart"], "timings": inline})
    assert ran_here(good["/classify"]) == "in process: preprocess, postprocess"
    assert ran_here({"timings": split}) == ran_here("text") == ""
