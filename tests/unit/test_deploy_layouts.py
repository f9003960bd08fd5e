"""deploy.toml's `layout` and `smart`: `python -m deploy plan|apply|smoke|destroy` for each
layout against the stand-in of Runpod's API (tests/fake_runpod_api.py), a switch of layout
on a live deployment, the checks each layout adds, and the lines `make cost --recommend`
prints read by the same loader."""

import re
from pathlib import Path

import pytest

from cost_model.__main__ import main as cost_model_main
from cost_model.layouts import LAYOUT_NAMES, SMART_SUFFIX
from cost_model.layouts import Layout as CostLayout
from deploy.checks import check_deployment
from deploy.config import DeployStage, Layout, parse_config
from deploy.layouts import deployed_stages, stage_image, unused_stages
from tests.unit import test_deploy
from tests.unit.test_deploy import Run, add_hand_made, env_of, result_rows
from tests.unit.test_deploy_config import edited, problems, repo_file_text

# The stand-in and `python -m deploy` over it, as tests/unit/test_deploy.py makes them.
server, fake, deploy_file, deploy = (
    test_deploy.server,
    test_deploy.fake,
    test_deploy.deploy_file,
    test_deploy.deploy,
)

ORCHESTRATOR = "sentiment-orchestrator"
# The endpoints each layout deploys from the repository file (smart: its default, on).
EXPECTED = {
    ("split", True): [
        "sentiment-preprocess",
        "sentiment-inference",
        "sentiment-inference-cpu",
        "sentiment-postprocess",
        ORCHESTRATOR,
    ],
    ("split", False): [
        "sentiment-preprocess",
        "sentiment-inference",
        "sentiment-postprocess",
        ORCHESTRATOR,
    ],
    ("inline", True): ["sentiment-inference", ORCHESTRATOR],
    ("inline", False): ["sentiment-inference", ORCHESTRATOR],
    ("single", True): ["sentiment-single", "sentiment-single-cpu", ORCHESTRATOR],
    ("single", False): ["sentiment-single", ORCHESTRATOR],
}
_LAYOUT_LINE = re.compile(r'^layout = "\w+"\n', re.M)
_SMART_LINE = re.compile(r"^#? ?smart = \w+\n", re.M)


def with_deployment_lines(text: str, lines: str) -> str:
    """The file with its [deployment] table's `layout` and `smart` replaced by `lines`."""
    text = _SMART_LINE.sub("", _LAYOUT_LINE.sub("", text, count=1), count=1)
    return text.replace("[deployment]\n", f"[deployment]\n{lines.strip()}\n", 1)


def layout_text(layout: str, smart: bool | None = None, text: str | None = None) -> str:
    lines = f'layout = "{layout}"'
    if smart is not None:
        lines += f"\nsmart = {str(smart).lower()}"
    return with_deployment_lines(repo_file_text() if text is None else text, lines)


def without_table(text: str, stage: str) -> str:
    """The file without [stages.<stage>] and its env table."""
    start = text.index(f"\n[stages.{stage}]\n") + 1
    end = text.find("\n[stages.", text.index(f"[stages.{stage}.env]")) + 1 or len(text)
    # The comment lines right above the table go with it.
    head = text[:start].rstrip("\n").split("\n")
    while head and head[-1].startswith("#"):
        head.pop()
    return "\n".join(head) + "\n\n" + text[end:]


def use(deploy: Run, text: str) -> None:
    deploy.file.write_text(text, encoding="utf-8")


def endpoint_names(fake) -> list[str]:
    return sorted(e["name"].removesuffix(" -fb") for e in fake.account.endpoints.values())


def template_names(fake) -> list[str]:
    return sorted(t["name"] for t in fake.account.templates.values())


# -- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "smart"), list(EXPECTED), ids=lambda v: str(v).lower())
def test_each_layout_deploys_its_endpoints_and_warns_of_the_tables_it_leaves(layout, smart):
    config = parse_config(layout_text(layout, smart), Path("deploy.toml"))
    assert config.deployment.layout == layout and config.smart is smart
    deployed = [config.endpoint_name(s) for s in deployed_stages(config)]
    assert deployed == EXPECTED[(layout, smart)]
    findings = check_deployment(config)
    assert findings.errors == []
    unused = ", ".join(f"[stages.{s.value}]" for s in unused_stages(config))
    [warning] = findings.warnings
    assert warning.startswith(f'layout "{layout}"') and unused in warning
    assert "apply deletes what it made of them" in warning


def test_smart_is_on_by_default_only_with_a_cpu_inference_table():
    config = parse_config(layout_text("single"), Path("deploy.toml"))
    assert config.smart and DeployStage.SINGLE_CPU in deployed_stages(config)
    text = without_table(layout_text("single"), "inference_cpu")
    config = parse_config(text, Path("deploy.toml"))
    assert not config.smart and DeployStage.SINGLE_CPU not in deployed_stages(config)


def test_the_single_layout_may_go_without_the_orchestrator():
    config = parse_config(without_table(layout_text("single"), "orchestrator"), Path("x"))
    assert deployed_stages(config) == (DeployStage.SINGLE, DeployStage.SINGLE_CPU)
    findings = check_deployment(config)
    assert findings.errors == []
    # Smart without the orchestrator: the CPU twin is there for callers who choose it.
    assert any("nothing sends short texts to single_cpu" in w for w in findings.warnings)


@pytest.mark.parametrize(
    ("layout", "smart", "table", "error"),
    [
        ("split", None, "postprocess", 'stages.postprocess: layout "split" needs it'),
        ("inline", None, "inference", 'stages.inference: layout "inline" needs it'),
        ("inline", None, "orchestrator", 'stages.orchestrator: layout "inline" needs it'),
        ("single", None, "single", 'stages.single: layout "single" needs it'),
        (
            "single",
            True,
            "single_cpu",
            'stages.single_cpu: layout "single" needs it for smart (set smart = false',
        ),
    ],
)
def test_a_stage_the_layout_needs_is_named_when_missing(layout, smart, table, error):
    (found,) = problems(without_table(layout_text(layout, smart), table))
    assert found.startswith(error)


@pytest.mark.parametrize(
    ("layout", "old", "new", "error"),
    [
        (
            "single",
            'image = "single-cpu"\ntype = "queue"\ncpu_instances = ["cpu3c-2-4"]\nworkers_min = 0\n'
            "workers_max = 3\nidle_timeout_s = 5\nexecution_timeout_s = 60\n"
            'scaler = { type = "QUEUE_DELAY", value = 4 }\nflashboot = true\n'
            "container_disk_gb = 20                 # Runpod's maximum on cpu3c-2-4\n\n"
            "[stages.single_cpu.env]\n",
            'image = "single-cpu"\ntype = "queue"\ncpu_instances = ["cpu3c-2-4"]\nworkers_min = 0\n'
            "workers_max = 3\nidle_timeout_s = 5\nexecution_timeout_s = 60\n"
            'scaler = { type = "QUEUE_DELAY", value = 4 }\nflashboot = true\n'
            "container_disk_gb = 20\n\n"
            '[stages.single_cpu.env]\nBACKEND = "torch"\n',
            "stages.single_cpu.env.BACKEND: the all-stage handler runs on a CPU instance only "
            'with BACKEND = "onnx"',
        ),
        (
            "single",
            '[stages.single_cpu.env]\nRUNPOD_MIN_MEMORY_GB = "1"             # see the '
            'preprocess stage\nMODEL_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-'
            'english"\nMODEL_REVISION = "main"',
            '[stages.single_cpu.env]\nRUNPOD_MIN_MEMORY_GB = "1"\nMODEL_ID = "distilbert/'
            'distilbert-base-uncased-finetuned-sst-2-english"\nMODEL_REVISION = "v2"',
            "stages.single_cpu.env.MODEL_REVISION: v2 differs from "
            "stages.single.env.MODEL_REVISION (main)",
        ),
        (
            "single",
            'LOG_LEVEL = "info"',
            'LOG_LEVEL = "info"\nSINGLE_ENDPOINT = "abc"',
            "stages.orchestrator.env.SINGLE_ENDPOINT: leave it out",
        ),
        (
            "inline",
            'LOG_LEVEL = "info"',
            'LOG_LEVEL = "info"\nLAYOUT = "split"',
            "stages.orchestrator.env.LAYOUT: leave it out; `deploy apply` sets it",
        ),
        (
            "inline",
            'LOG_LEVEL = "info"',
            'LOG_LEVEL = "info"\nMODEL_ID = "someone/else"',
            "stages.orchestrator.env.MODEL_ID: someone/else differs from "
            "stages.inference.env.MODEL_ID",
        ),
    ],
    ids=["single-cpu-backend", "single-models", "single-wired", "inline-layout", "inline-model"],
)
def test_each_layouts_mistakes_are_refused_naming_the_key(layout, old, new, error):
    text = layout_text(layout, text=edited((old, new)))
    found = problems(text)
    assert any(p.startswith(error) for p in found), found


def test_a_gpu_stage_on_cpu_instances_is_pointed_at_its_cpu_twin():
    text = layout_text(
        "single",
        text=edited(
            (
                '[stages.single]\nimage = "single"\ntype = "queue"\ngpu_pools = ["AMPERE_16", '
                '"ADA_24"]\ngpu_count = 1\nallowed_cuda_versions = ["13.0"]',
                '[stages.single]\nimage = "single"\ntype = "queue"\ncpu_instances = ["cpu3g-4-16"]',
            ),
        ),
    )
    found = problems(text)
    assert any(
        "[stages.single_cpu]" in p and p.startswith("stages.single.cpu_instances") for p in found
    )


def test_the_inline_layout_needs_the_inference_stages_model_named():
    text = layout_text(
        "inline",
        text=edited(
            (
                '[stages.inference.env]\nRUNPOD_MIN_CUDA_VERSION = "13.0"       # an older '
                "driver fails the start-up check at once\nMODEL_ID = "
                '"distilbert/distilbert-base-uncased-finetuned-sst-2-english"\n',
                '[stages.inference.env]\nRUNPOD_MIN_CUDA_VERSION = "13.0"\n',
            )
        ),
    )
    assert any(p.startswith("stages.inference.env.MODEL_ID: set it") for p in problems(text))


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_the_lines_the_cost_model_recommends_parse_to_its_layout(name):
    base = name.removesuffix(SMART_SUFFIX)
    lines = CostLayout(name, base, name.endswith(SMART_SUFFIX), (), lambda sample, tokens: [])
    config = parse_config(with_deployment_lines(repo_file_text(), lines.deploy_lines), Path("x"))
    assert config.deployment.layout == lines.base and config.smart is lines.smart
    assert check_deployment(config).errors == []


def test_make_cost_recommend_prints_lines_the_deploy_loader_reads(capsys):
    # What `make cost COST_ARGS="--recommend --rate 1/s"` runs, in process.
    assert cost_model_main(["--recommend", "--rate", "1/s"]) == 0
    lines = capsys.readouterr().out.split("[deployment] table:", 1)[1].strip()
    assert lines.splitlines()[0].startswith("layout = ")
    config = parse_config(with_deployment_lines(repo_file_text(), lines), Path("x"))
    assert config.deployment.layout in set(Layout)
    assert f'layout = "{config.deployment.layout}"' in lines
    assert f"smart = {str(config.smart).lower()}" in lines
    assert check_deployment(config).errors == []


# -- plan, apply, switch, smoke, destroy against the stand-in ------------------------------


@pytest.mark.parametrize(("layout", "smart"), list(EXPECTED), ids=lambda v: str(v).lower())
def test_plan_for_each_layout_creates_exactly_its_endpoints(fake, deploy, layout, smart):
    use(deploy, layout_text(layout, smart))
    code, out, err = deploy("plan")
    assert code == 0, err
    expected = EXPECTED[(layout, smart)]
    created = re.findall(r"^\+ endpoint (\S+): create$", out, re.M)
    assert created == expected
    assert f"Plan: {2 * len(expected)} to create, 0 to update, 0 unchanged." in out
    assert f"Endpoints to create: {', '.join(expected)}." in out
    assert out.startswith(f'Layout "{layout}"')
    assert f'warning: layout "{layout}"' in err
    assert 'env.LAYOUT = "' + layout + '"' in out
    assert [name for name, _ in fake.calls] == ["myself"]


def test_inline_wires_the_orchestrator_to_inference_alone_and_its_own_model(fake, deploy):
    use(deploy, layout_text("inline", True))
    assert deploy("apply")[0] == 0
    assert endpoint_names(fake) == sorted(EXPECTED[("inline", True)])
    inference = fake.endpoint_named("sentiment-inference")
    env = env_of(fake, "sentiment-orchestrator-template")
    model = env_of(fake, "sentiment-inference-template")
    assert env["LAYOUT"] == "inline" and env["INFERENCE_ENDPOINT"] == inference["id"]
    assert env["CPU_INFERENCE_ENDPOINT"] == "inline"
    assert (env["MODEL_ID"], env["MODEL_REVISION"]) == (model["MODEL_ID"], model["MODEL_REVISION"])
    assert "PREPROCESS_ENDPOINT" not in env and "POSTPROCESS_ENDPOINT" not in env
    settings = deploy.env_file.read_text()
    assert "LAYOUT=inline\n" in settings and "CPU_INFERENCE_ENDPOINT=inline\n" in settings

    use(deploy, layout_text("inline", False))
    code, out, _ = deploy("plan")
    assert code == 0 and 'env.CPU_INFERENCE_ENDPOINT: "inline" -> ""' in out


def test_single_wires_both_all_stage_endpoints_and_runs_on_onnx_on_the_cpu(fake, deploy):
    use(deploy, layout_text("single", True))
    assert deploy("apply")[0] == 0
    single = fake.endpoint_named("sentiment-single")
    single_cpu = fake.endpoint_named("sentiment-single-cpu")
    assert single["gpuIds"] == "AMPERE_16,ADA_24" and single_cpu["instanceIds"] == ["cpu3c-2-4"]
    assert fake.template_named("sentiment-single-template")["imageName"].endswith("/single:1.0.0")
    cpu_template = fake.template_named("sentiment-single-cpu-template")
    assert cpu_template["imageName"].endswith("/single-cpu:1.0.0")
    assert env_of(fake, "sentiment-single-cpu-template")["BACKEND"] == "onnx"
    assert "BACKEND" not in env_of(fake, "sentiment-single-template")
    env = env_of(fake, "sentiment-orchestrator-template")
    assert env["LAYOUT"] == "single"
    assert env["SINGLE_ENDPOINT"] == single["id"] and env["SINGLE_CPU_ENDPOINT"] == single_cpu["id"]
    assert not {"PREPROCESS_ENDPOINT", "INFERENCE_ENDPOINT", "POSTPROCESS_ENDPOINT"} & set(env)
    # It counts the short texts' tokens: the single stage's model, in the image with tokenizers.
    model = env_of(fake, "sentiment-single-template")
    assert (env["MODEL_ID"], env["MODEL_REVISION"]) == (model["MODEL_ID"], model["MODEL_REVISION"])
    orchestrator = fake.template_named("sentiment-orchestrator-template")["imageName"]
    assert orchestrator.endswith("/orchestrator-inline:1.0.0")


def test_single_without_smart_runs_the_plain_orchestrator(fake, deploy):
    use(deploy, layout_text("single", False))
    assert deploy("apply")[0] == 0
    orchestrator = fake.template_named("sentiment-orchestrator-template")["imageName"]
    assert orchestrator.endswith("/orchestrator:1.0.0")
    env = env_of(fake, "sentiment-orchestrator-template")
    assert env["SINGLE_CPU_ENDPOINT"] == "" and "MODEL_ID" not in env


def test_single_without_an_orchestrator_is_one_endpoint_called_directly(fake, deploy):
    use(deploy, without_table(layout_text("single", False), "orchestrator"))
    code, out, _ = deploy("apply")
    assert code == 0
    assert endpoint_names(fake) == ["sentiment-single"]
    single = fake.endpoint_named("sentiment-single")
    assert f"{single['id']}/runsync" in out and '{"input": {"text":' in out
    assert not deploy.env_file.exists()

    code, out, _ = deploy("smoke")
    assert code == 0, out
    rows = result_rows(out)
    assert set(rows) == {"tried", "single"}
    assert "POSITIVE" in rows["single"]
    (job,) = fake.jobs.values()
    assert job["output"]["classification"]["label"] == "POSITIVE"


def test_smoke_for_single_tries_both_endpoints_and_the_orchestrator(fake, deploy):
    use(deploy, layout_text("single", True))
    assert deploy("apply")[0] == 0
    code, out, _ = deploy("smoke")
    assert code == 0, out
    rows = result_rows(out)
    assert list(rows) == ["tried", "single", "single_cpu", "/classify", "/classify-smart"]
    assert fake.lb_requests[-2:] == ["classify", "classify-smart"]


@pytest.mark.parametrize("smart", [True, False])
def test_smoke_for_inline_tries_inference_and_the_orchestrator(fake, deploy, smart):
    use(deploy, layout_text("inline", smart))
    assert deploy("apply")[0] == 0
    code, out, _ = deploy("smoke")
    assert code == 0, out
    smart_route = ["/classify-smart"] if smart else []
    assert list(result_rows(out)) == ["tried", "inference", "/classify", *smart_route]


def test_smoke_fails_an_all_stage_endpoint_that_answers_no_classification(
    fake, deploy, monkeypatch
):
    use(deploy, without_table(layout_text("single", False), "orchestrator"))
    assert deploy("apply")[0] == 0
    # An image that is not the all-stage handler: the job completes, but not with an answer.
    monkeypatch.setattr(fake, "_output", lambda endpoint_id, job_input: {"echo": job_input})
    code, out, _ = deploy("smoke")
    assert code == 1 and "the answer has no classification" in out


def test_switching_layouts_plans_what_it_creates_and_deletes_then_does_it(fake, deploy):
    use(deploy, layout_text("split", True))
    assert deploy("apply")[0] == 0
    before = {name: fake.endpoint_named(name)["id"] for name in EXPECTED[("split", True)]}

    use(deploy, layout_text("single", True))
    calls = len(fake.calls)
    code, out, _ = deploy("plan")
    assert code == 0
    assert "Endpoints to create: sentiment-single, sentiment-single-cpu." in out
    assert (
        "Endpoints to delete: sentiment-preprocess, sentiment-inference, "
        "sentiment-inference-cpu, sentiment-postprocess." in out
    )
    assert 'layout "single" does not use [stages.preprocess]' in out
    assert 'env.LAYOUT: "split" -> "single"' in out
    assert f'env.PREPROCESS_ENDPOINT: "{before["sentiment-preprocess"]}" -> (removed)' in out
    assert "Plan: 4 to create, 2 to update, 0 unchanged, 8 to delete." in out
    assert fake.calls[calls:] == [("myself", {})]  # plan changed nothing

    code, out, _ = deploy("apply")
    assert code == 0, out
    assert endpoint_names(fake) == sorted(EXPECTED[("single", True)])
    assert fake.endpoint_named(ORCHESTRATOR)["id"] == before[ORCHESTRATOR]
    assert template_names(fake) == sorted(f"{n}-template" for n in EXPECTED[("single", True)])
    # The orchestrator was rewired before the endpoints it called were deleted.
    saves = [v["input"].get("name") for n, v in fake.calls if n in ("saveTemplate",)]
    assert saves[-1] == "sentiment-orchestrator-template"
    assert deploy("plan")[1].count(": unchanged") == 6


def test_switching_deletes_only_what_apply_made(fake, deploy):
    use(deploy, layout_text("single", False))
    assert deploy("apply")[0] == 0
    add_hand_made(fake, "handmade1", "sentiment-preprocess")

    use(deploy, layout_text("inline", False))
    code, out, _ = deploy("plan")
    assert code == 0
    assert "Endpoints to create: sentiment-inference." in out
    assert "Endpoints to delete: sentiment-single." in out
    assert "handmade1" not in out
    assert deploy("apply")[0] == 0
    assert "handmade1" in fake.account.endpoints
    assert endpoint_names(fake) == sorted([*EXPECTED[("inline", False)], "sentiment-preprocess"])


@pytest.mark.parametrize(("layout", "smart"), list(EXPECTED), ids=lambda v: str(v).lower())
def test_destroy_removes_each_layouts_endpoints(fake, deploy, layout, smart):
    use(deploy, layout_text(layout, smart))
    assert deploy("apply")[0] == 0
    assert endpoint_names(fake) == sorted(EXPECTED[(layout, smart)])
    code, out, _ = deploy("destroy", "--yes")
    assert code == 0, out
    assert fake.account.endpoints == {} and fake.account.templates == {}


def test_destroy_after_a_switch_removes_what_both_layouts_left(fake, deploy):
    use(deploy, layout_text("split", True))
    assert deploy("apply")[0] == 0
    # A switch that stopped half way: the new endpoints made, the old ones not yet deleted.
    use(deploy, layout_text("single", True))
    fake.fail("deleteEndpoint", status=500, times=10)
    assert deploy("apply")[0] == 1
    assert len(fake.account.endpoints) == 7
    fake.failures.clear()
    assert deploy("destroy", "--yes")[0] == 0
    assert fake.account.endpoints == {} and fake.account.templates == {}


def test_inline_runs_the_orchestrator_inline_image_and_switching_plans_the_swap(fake, deploy):
    use(deploy, layout_text("inline", True))
    code, out, err = deploy("plan")
    assert code == 0, err
    assert "/orchestrator-inline:1.0.0" in out
    assert deploy("apply")[0] == 0
    image = fake.template_named("sentiment-orchestrator-template")["imageName"]
    assert image.endswith("/orchestrator-inline:1.0.0")

    use(deploy, layout_text("split", True))
    code, out, _ = deploy("plan")
    assert code == 0
    assert re.search(
        r'imageName: "\S+/orchestrator-inline:1\.0\.0" -> "\S+/orchestrator:1\.0\.0"', out
    )
    assert deploy("apply")[0] == 0
    image = fake.template_named("sentiment-orchestrator-template")["imageName"]
    assert image.endswith("/orchestrator:1.0.0")


def test_a_full_orchestrator_image_reference_is_used_as_written_in_inline():
    text = layout_text("inline", True)
    text = text.replace('image = "orchestrator"', 'image = "docker.io/me/orch:2.0.0"', 1)
    config = parse_config(text, Path("deploy.toml"))
    assert stage_image(config, DeployStage.ORCHESTRATOR) == "docker.io/me/orch:2.0.0"


def test_the_single_cpu_stage_never_runs_the_gpu_build():
    """A file that names the GPU image for single_cpu (as files did before single-cpu
    existed) gets the ONNX Runtime build, which holds model.onnx."""
    text = layout_text("single", True).replace('image = "single-cpu"', 'image = "single"', 1)
    config = parse_config(text, Path("deploy.toml"))
    assert stage_image(config, DeployStage.SINGLE_CPU).endswith("/single-cpu:1.0.0")
    assert stage_image(config, DeployStage.SINGLE).endswith("/single:1.0.0")


def test_single_with_smart_needs_the_model_its_orchestrator_tokenizes_with():
    text = layout_text("single", True)
    start = text.index("\n[stages.single.env]\n")
    end = text.index("\n[stages.single_cpu]\n")
    section = text[start:end]
    text = text[:start] + section.replace('MODEL_REVISION = "main"\n', "", 1) + text[end:]
    found = problems(text)
    assert any(
        p.startswith("stages.single.env.MODEL_REVISION: set it; in the single") for p in found
    )
