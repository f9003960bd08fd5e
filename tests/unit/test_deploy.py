"""`python -m deploy` against a stand-in for Runpod's API (tests/fake_runpod_api.py), over
real HTTP: plan, apply, apply again, a changed tag, a refused file, a failure half way,
destroy, smoke, the API key's absence, and a deployment with and without its optional CPU
inference stage. The stand-in validates every GraphQL request against the schema Runpod's
own tools use."""

from pathlib import Path

import httpx
import pytest

from deploy.cli import main
from deploy.config import DeployStage
from deploy.runpod_api import RunpodUrls
from deploy.smoke import INFERENCE_SMOKE_INPUT
from scripts.local_stack import free_port
from tests.fake_runpod_api import API_KEY, COLD_START_MS, WARM_QUEUE_MS, serve_fake_runpod_api
from tests.unit.test_deploy_config import repo_file_text

# The repository file's layout: split, smart (tests/unit/test_deploy_layouts.py has the others).
STAGES = tuple(s for s in DeployStage if s not in (DeployStage.SINGLE, DeployStage.SINGLE_CPU))
ENDPOINTS = [f"sentiment-{s.resource_name}" for s in STAGES]
TEMPLATES = [f"{name}-template" for name in ENDPOINTS]
CPU_ENDPOINT = "sentiment-inference-cpu"
# The file without the optional CPU inference stage: the four endpoints of the pipeline.
FOUR_ENDPOINTS = [name for name in ENDPOINTS if name != CPU_ENDPOINT]


@pytest.fixture(scope="module")
def server():
    with serve_fake_runpod_api(free_port()) as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


@pytest.fixture
def deploy_file(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(repo_file_text(), encoding="utf-8")
    return path


class Run:
    def __init__(self, fake, deploy_file: Path, capsys):
        self.fake, self.file, self.capsys = fake, deploy_file, capsys
        self.env_file = deploy_file.parent / ".env.orchestrator"
        self.urls = RunpodUrls(
            graphql=f"{fake.url}/graphql",
            endpoint_base=f"{fake.url}/v2",
            load_balancer=f"{fake.url}/lb/{{endpoint_id}}",
        )

    def __call__(self, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        env = {"RUNPOD_API_KEY": API_KEY} if env is None else env
        code = main(
            [*argv, "--file", str(self.file)], env=env, urls=self.urls, sleep=lambda s: None
        )
        out, err = self.capsys.readouterr()
        # The key is never printed, whatever the command and however it ends.
        assert API_KEY not in out + err
        return code, out, err

    def edit(self, old: str, new: str) -> None:
        text = self.file.read_text(encoding="utf-8")
        assert old in text
        self.file.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def deploy(fake, deploy_file, capsys) -> Run:
    return Run(fake, deploy_file, capsys)


def creates(fake, operation: str) -> list[dict]:
    return [v["input"] for v in fake.mutations(operation) if not v["input"].get("id")]


def updates(fake, operation: str) -> list[dict]:
    return [v["input"] for v in fake.mutations(operation) if v["input"].get("id")]


def result_rows(out: str) -> dict[str, str]:
    """Smoke's report: each row, by what it tried (its notes follow on indented lines)."""
    return {line.split()[0]: line for line in out.splitlines() if line[:1] not in " *"}


def without_the_cpu_stage(deploy: "Run") -> None:
    text = deploy.file.read_text(encoding="utf-8")
    start = text.index("# The CPU inference endpoint:")
    end = text.index("[stages.postprocess]")
    deploy.file.write_text(text[:start] + text[end:], encoding="utf-8")


def env_of(fake, template_name: str) -> dict[str, str]:
    return {e["key"]: e["value"] for e in fake.template_named(template_name)["env"]}


def add_hand_made(fake, endpoint_id: str, endpoint_name: str) -> str:
    """An endpoint and its template made in the console, not by deploy; the template's id."""
    template_id = fake.new_id("tpl")
    fake.account.templates[template_id] = {
        "id": template_id,
        "name": f"hand-made-{endpoint_id}",
        "imageName": "me/x:1",
        "isServerless": True,
        "env": [],
        "readme": "",
    }
    fake.account.endpoints[endpoint_id] = {
        "id": endpoint_id,
        "name": endpoint_name,
        "templateId": template_id,
        "type": "QB",
        "workersMin": 0,
        "workersMax": 1,
        "instanceIds": ["cpu3c-2-4"],
    }
    return template_id


def test_plan_on_an_empty_account_shows_everything_to_create_and_changes_nothing(fake, deploy):
    code, out, _ = deploy("plan")
    assert code == 0
    for name in TEMPLATES + ENDPOINTS:
        assert f"+ {'template' if name.endswith('template') else 'endpoint'} {name}: create" in out
    assert "Plan: 10 to create, 0 to update, 0 unchanged." in out
    assert 'instanceIds = ["cpu3c-2-4"]' in out and 'gpuIds = "AMPERE_16,ADA_24"' in out
    assert 'env.PREPROCESS_ENDPOINT = "(id of sentiment-preprocess, known after apply)"' in out
    assert (
        'env.CPU_INFERENCE_ENDPOINT = "(id of sentiment-inference-cpu, known after apply)"' in out
    )
    assert 'imageName = "ghcr.io/acme/sentiment/inference-cpu:1.0.0"' in out
    assert [name for name, _ in fake.calls] == ["myself"]


def test_apply_creates_cpu_endpoints_by_instance_ids_and_wires_the_orchestrator(fake, deploy):
    code, out, _ = deploy("apply")
    assert code == 0, out
    assert sorted(t["name"] for t in fake.account.templates.values()) == sorted(TEMPLATES)
    assert len(fake.account.endpoints) == 5
    pre, inf, cpu, post, orch = (fake.endpoint_named(name) for name in ENDPOINTS)
    # CPU stages come out as CPU endpoints: instanceIds, and no GPU field in the request.
    for record, instance in (
        (pre, "cpu3c-2-4"),
        (cpu, "cpu3c-2-4"),
        (post, "cpu3c-1-2"),
        (orch, "cpu3c-2-4"),
    ):
        assert record["computeType"] == "CPU" and record["instanceIds"] == [instance]
    for sent in creates(fake, "saveEndpoint"):
        if sent.get("instanceIds"):
            assert not {"gpuIds", "gpuCount", "allowedCudaVersions", "minCudaVersion"} & set(sent)
    assert inf["computeType"] == "GPU" and inf["gpuIds"] == "AMPERE_16,ADA_24"
    assert (inf["allowedCudaVersions"], inf["minCudaVersion"]) == ("13.0", "13.0")
    assert (orch["type"], orch["scalerType"]) == ("LB", "REQUEST_COUNT")
    assert pre["type"] == "QB" and pre["flashBootType"] == "FLASHBOOT"
    assert pre["idleTimeout"] == 5 and pre["executionTimeoutMs"] == 60_000
    # The orchestrator's template names the four endpoints it calls, and its key by reference.
    template = fake.template_named("sentiment-orchestrator-template")
    env = env_of(fake, "sentiment-orchestrator-template")
    assert env["PREPROCESS_ENDPOINT"] == pre["id"] and env["INFERENCE_ENDPOINT"] == inf["id"]
    assert env["POSTPROCESS_ENDPOINT"] == post["id"] and env["CPU_INFERENCE_ENDPOINT"] == cpu["id"]
    assert env["RUNPOD_API_KEY"] == "{{ RUNPOD_SECRET_runpod_api_key }}"
    assert (env["PORT"], env["PORT_HEALTH"], template["ports"]) == ("8888", "8888", "8888/http")
    assert template["isServerless"] is True and template["volumeInGb"] == 0
    assert fake.template_named("sentiment-inference-template")["imageName"] == (
        "ghcr.io/acme/sentiment/inference:1.0.0"
    )
    cpu_template = fake.template_named("sentiment-inference-cpu-template")
    assert cpu_template["imageName"] == "ghcr.io/acme/sentiment/inference-cpu:1.0.0"
    cpu_env = {e["key"]: e["value"] for e in cpu_template["env"]}
    assert cpu_env["MODEL_ID"] == env_of(fake, "sentiment-inference-template")["MODEL_ID"]
    # It prints the ids and the orchestrator's URL, and writes the orchestrator's settings.
    orchestrator_url = f"{fake.url}/lb/{orch['id']}"
    assert f"Orchestrator: {orchestrator_url}" in out
    assert all(record["id"] in out for record in (pre, inf, cpu, post, orch))
    settings = [
        line for line in deploy.env_file.read_text().splitlines() if not line.startswith("#")
    ]
    assert f"PREPROCESS_ENDPOINT={pre['id']}" in settings
    assert f"INFERENCE_ENDPOINT={inf['id']}" in settings and "LOG_LEVEL=info" in settings
    assert f"CPU_INFERENCE_ENDPOINT={cpu['id']}" in settings
    assert not [line for line in settings if "RUNPOD_API_KEY" in line or "{{" in line]
    assert fake.refused == []


def test_a_second_apply_changes_nothing(fake, deploy):
    assert deploy("apply")[0] == 0
    before = {k: dict(v) for k, v in fake.account.endpoints.items()}
    fake.calls.clear()
    code, out, _ = deploy("apply")
    assert code == 0
    assert {name for name, _ in fake.calls} == {"myself"}
    assert fake.account.endpoints == before
    assert out.count(": unchanged") == 10
    code, out, _ = deploy("plan")
    assert "Plan: 0 to create, 0 to update, 10 unchanged." in out


def test_a_changed_tag_updates_the_templates_in_place(fake, deploy):
    assert deploy("apply")[0] == 0
    ids = {name: fake.endpoint_named(name)["id"] for name in ENDPOINTS}
    deploy.edit('tag = "1.0.0"', 'tag = "1.0.1"')
    code, out, _ = deploy("plan")
    assert code == 0
    assert "Plan: 0 to create, 10 to update, 0 unchanged." in out
    assert (
        'imageName: "ghcr.io/acme/sentiment/preprocess:1.0.0" -> '
        '"ghcr.io/acme/sentiment/preprocess:1.0.1"'
    ) in out
    fake.calls.clear()
    assert deploy("apply")[0] == 0
    assert creates(fake, "saveTemplate") == [] and creates(fake, "saveEndpoint") == []
    assert len(updates(fake, "saveTemplate")) == 5
    # Each endpoint is saved again after its template, which starts Runpod's rolling release.
    assert [e["name"] for e in updates(fake, "saveEndpoint")] == ENDPOINTS
    assert {name: fake.endpoint_named(name)["id"] for name in ENDPOINTS} == ids
    assert fake.template_named("sentiment-inference-template")["imageName"].endswith(":1.0.1")


def test_a_changed_setting_updates_the_endpoint_sending_every_field(fake, deploy):
    assert deploy("apply")[0] == 0
    deploy.edit("workers_max = 2", "workers_max = 5")
    _, out, _ = deploy("plan")
    assert "~ endpoint sentiment-inference" in out and "workersMax: 2 -> 5" in out
    fake.calls.clear()
    assert deploy("apply")[0] == 0
    (sent,) = updates(fake, "saveEndpoint")
    # saveEndpoint replaces an endpoint whole: an update carries the GPU settings too.
    assert sent["workersMax"] == 5 and sent["gpuIds"] == "AMPERE_16,ADA_24"
    assert fake.endpoint_named("sentiment-inference")["allowedCudaVersions"] == "13.0"


def test_a_model_mismatch_is_refused_before_any_call(fake, deploy):
    deploy.edit('MODEL_REVISION = "main"\n# MAX_CONCURRENCY', 'MODEL_REVISION = "abc123"\n#')
    code, _, err = deploy("apply")
    assert code == 2
    assert "stages.inference.env.MODEL_REVISION: abc123 differs from" in err
    assert fake.requests == 0


def test_a_failure_half_way_is_finished_by_the_next_apply(fake, deploy):
    fake.fail(
        "saveEndpoint",
        status=200,
        message="There are no longer any instances available with the requested specifications",
        times=1,
        when=lambda variables: variables["input"]["name"] == "sentiment-inference",
    )
    code, _, err = deploy("apply")
    assert code == 1
    assert "could not create endpoint sentiment-inference: There are no longer" in err
    assert "apply` again finishes the job" in err
    assert len(fake.account.templates) == 2 and len(fake.account.endpoints) == 1
    assert deploy("apply")[0] == 0
    assert len(fake.account.templates) == 5 and len(fake.account.endpoints) == 5
    created = [e["name"] for e in creates(fake, "saveEndpoint")]
    assert sorted(created) == sorted(ENDPOINTS)  # each once: nothing made twice
    assert deploy("plan")[1].count(": unchanged") == 10


def test_transient_failures_are_retried(fake, deploy):
    fake.fail("myself", status=503, times=1)
    fake.fail("saveTemplate", status=502, times=2)
    fake.fail("saveEndpoint", status=429, times=1, message="Too many requests")
    assert deploy("apply")[0] == 0
    assert len(fake.account.endpoints) == 5


def test_a_create_whose_answer_was_lost_is_not_made_twice(fake, deploy):
    fake.fail("saveEndpoint", status=500, after_commit=True, times=1)
    fake.fail("saveTemplate", status=502, after_commit=True, times=1)
    assert deploy("apply")[0] == 0
    assert len(fake.account.endpoints) == 5 and len(fake.account.templates) == 5
    assert len(creates(fake, "saveEndpoint")) == 5


def test_destroy_removes_what_apply_made_and_only_that(fake, deploy):
    assert deploy("apply")[0] == 0
    deploy.edit('name = "sentiment"', 'name = "other"')
    assert deploy("apply")[0] == 0  # another deployment in the same account
    deploy.edit('name = "other"', 'name = "sentiment"')
    assert deploy("apply")[0] == 0
    fake.template_release_refusals = 2  # Runpod releases templates a while after
    code, out, err = deploy("destroy")
    assert code == 2 and "pass --yes" in err and len(fake.account.endpoints) == 10
    code, out, _ = deploy("destroy", "--yes")
    assert code == 0, out
    assert sorted(e["name"] for e in fake.account.endpoints.values()) == sorted(
        f"{name.replace('sentiment', 'other')} -fb" for name in ENDPOINTS
    )
    assert sorted(t["name"] for t in fake.account.templates.values()) == sorted(
        name.replace("sentiment", "other") for name in TEMPLATES
    )
    # Each endpoint was scaled to zero first: Runpod deletes none that may run workers.
    scaled = [v["input"] for v in fake.mutations("saveEndpoint") if v["input"].get("id")]
    assert len(scaled) == 5 and all(s["workersMax"] == 0 for s in scaled)
    # Sent back as the account had them: a CPU endpoint without GPU fields, names without -fb.
    for sent in scaled:
        assert not sent["name"].endswith("-fb")
        if sent.get("instanceIds"):
            assert not {"gpuIds", "gpuCount", "allowedCudaVersions", "minCudaVersion"} & set(sent)
    assert "not released it yet" in out
    assert not deploy.env_file.exists()
    assert deploy("destroy", "--yes")[0] == 0  # nothing left: nothing to do


def test_what_deploy_did_not_make_is_never_adopted_or_deleted(fake, deploy):
    add_hand_made(fake, "handmade1", "sentiment-preprocess")
    code, out, _ = deploy("plan")
    assert "! endpoint sentiment-preprocess (handmade1): blocked" in out
    assert "1 blocked" in out
    code, _, err = deploy("apply")
    assert code == 1 and "nothing was changed" in err
    assert len(fake.account.templates) == 1 and len(fake.account.endpoints) == 1
    code, out, _ = deploy("destroy", "--yes")
    assert code == 0 and "not made by deploy; left alone" in out
    assert "handmade1" in fake.account.endpoints


def test_a_missing_key_is_a_clear_error_and_nothing_is_sent(fake, deploy):
    for command in ("plan", "apply", "smoke", "destroy"):
        code, _, err = deploy(command, env={})
        assert code == 2
        assert "RUNPOD_API_KEY is not set" in err
    assert fake.requests == 0


def test_a_refused_key_is_named_and_never_printed(fake, deploy):
    wrong = "rpa_WRONGKEY0123456789abcdef"
    code, out, err = deploy("plan", env={"RUNPOD_API_KEY": wrong})
    assert code == 1
    assert "Runpod refused RUNPOD_API_KEY (HTTP 401)" in err
    assert wrong not in out + err


def test_smoke_runs_a_job_per_endpoint_one_classify_and_one_classify_smart(fake, deploy):
    code, _, err = deploy("smoke")
    assert code == 1 and "not deployed" in err
    assert deploy("apply")[0] == 0
    code, out, _ = deploy("smoke")
    assert code == 0, out
    lines = result_rows(out)
    for stage in ("preprocess", "inference", "inference_cpu", "postprocess"):
        assert f"{COLD_START_MS:,} ms" in lines[stage] and "COMPLETED" in lines[stage]
    assert "HTTP 200" in lines["/classify"] and "POSITIVE (0.998)" in lines["/classify"]
    assert "HTTP 503 while a worker started; retried" in out  # the cold start, visible
    assert "inference via the orchestrator: queue 12 ms, execution 9 ms" in out
    # /classify-smart answered on the CPU endpoint, as a short text should be.
    assert "POSITIVE (0.998) on cpu (short_text)" in lines["/classify-smart"]
    # Each CPU worker got its own test_input.json, both inference endpoints cleaned text.
    echoed = [job["output"]["echo"] for job in fake.jobs.values()]
    assert {"text", "predictions"} <= {k for e in echoed for k in e}
    assert [e for e in echoed if "cleaned_text" in e] == [INFERENCE_SMOKE_INPUT["input"]] * 2
    assert sorted(fake.lb_requests) == ["classify", "classify", "classify-smart"]
    # A second run is warm.
    assert f"{WARM_QUEUE_MS:,} ms" in deploy("smoke")[1]


def test_smoke_polls_a_queued_job_and_reports_a_failure_without_its_traceback(fake, deploy):
    assert deploy("apply")[0] == 0
    fake.job_behaviour[fake.endpoint_named("sentiment-preprocess")["id"]] = "queued"
    fake.job_behaviour[fake.endpoint_named("sentiment-inference")["id"]] = "failed"
    code, out, _ = deploy("smoke")
    assert code == 1
    lines = result_rows(out)
    assert "COMPLETED" in lines["preprocess"]
    assert "FAILED" in lines["inference"] and "KeyError: boom" in lines["inference"]
    assert "Traceback" not in out and "secret-detail" not in out
    assert "COMPLETED" in lines["inference_cpu"]
    # The orchestrator's own error is a result, not a load balancer waiting for a worker.
    fake.lb_error = (
        504,
        {
            "error": "inference stage: no result within 120 s",
            "error_type": "stage_timeout",
            "stage": "inference",
        },
    )
    _, out, _ = deploy("smoke")
    row = result_rows(out)["/classify"]
    assert "HTTP 504" in row and "inference stage: no result within 120 s" in row
    assert fake.lb_requests.count("classify") == 3  # 503 (cold) and 200, then one 504


def test_smoke_fails_when_classify_smart_misses_the_cpu_endpoint(fake, deploy):
    """The orchestrator answers on the GPU when it cannot reach the CPU endpoint: a
    deployment whose smart route never uses its CPU endpoint is not a working one."""
    assert deploy("apply")[0] == 0
    fake.lb_route = {
        "endpoint": "gpu",
        "reason": "cpu_unreachable",
        "detail": "the CPU inference endpoint did not answer; the GPU one did",
        "tokens": 11,
        "max_cpu_tokens": 128,
    }
    code, out, _ = deploy("smoke")
    assert code == 1
    row = result_rows(out)["/classify-smart"]
    assert "on gpu (cpu_unreachable): the CPU inference endpoint did not answer" in row
    assert "POSITIVE" in result_rows(out)["/classify"]


def test_the_cpu_inference_stage_is_optional(fake, deploy):
    """Left out of the file: four endpoints, an orchestrator with no CPU inference endpoint,
    and a smoke test without the CPU job and /classify-smart."""
    without_the_cpu_stage(deploy)
    code, out, _ = deploy("plan")
    assert code == 0 and "Plan: 8 to create, 0 to update, 0 unchanged." in out
    assert "inference-cpu" not in out and 'env.CPU_INFERENCE_ENDPOINT = ""' in out
    assert deploy("apply")[0] == 0
    assert sorted(e["name"] for e in fake.account.endpoints.values()) == sorted(
        f"{name} -fb" for name in FOUR_ENDPOINTS
    )
    assert env_of(fake, "sentiment-orchestrator-template")["CPU_INFERENCE_ENDPOINT"] == ""
    assert "CPU_INFERENCE_ENDPOINT=\n" in deploy.env_file.read_text()
    assert deploy("plan")[1].count(": unchanged") == 8
    code, out, _ = deploy("smoke")
    assert code == 0, out
    assert set(result_rows(out)) == {"tried", "preprocess", "inference", "postprocess", "/classify"}
    assert "classify-smart" not in fake.lb_requests
    assert deploy("destroy", "--yes")[0] == 0
    assert fake.account.endpoints == {} and fake.account.templates == {}


def test_leaving_the_cpu_stage_out_later_deletes_only_what_apply_made_for_it(fake, deploy):
    assert deploy("apply")[0] == 0
    cpu = fake.endpoint_named(CPU_ENDPOINT)
    # Another deployment's resources of the same name are not this one's to delete.
    foreign = add_hand_made(fake, "handmade2", CPU_ENDPOINT)
    without_the_cpu_stage(deploy)
    code, out, _ = deploy("plan")
    assert code == 0
    assert f"- endpoint {CPU_ENDPOINT} ({cpu['id']}): delete" in out
    assert f"- template {CPU_ENDPOINT}-template" in out
    assert "[stages.inference_cpu] is no longer in the file" in out
    assert f'env.CPU_INFERENCE_ENDPOINT: "{cpu["id"]}" -> ""' in out
    assert "Plan: 0 to create, 2 to update, 6 unchanged, 2 to delete." in out
    assert cpu["id"] in fake.account.endpoints  # plan changes nothing
    fake.template_release_refusals = 1  # Runpod releases the template a while after
    fake.calls.clear()
    code, out, _ = deploy("apply")
    assert code == 0, out
    # The orchestrator stops calling the CPU endpoint before it is deleted, at 0 workers.
    operations = [
        (name, variables.get("input", variables).get("name") or variables)
        for name, variables in fake.calls
        if name != "myself"
    ]
    assert operations[:2] == [
        ("saveTemplate", "sentiment-orchestrator-template"),
        ("saveEndpoint", "sentiment-orchestrator"),
    ]
    assert operations[2] == ("saveEndpoint", CPU_ENDPOINT)
    assert fake.mutations("saveEndpoint")[-1]["input"]["workersMax"] == 0
    assert [name for name, _ in fake.calls if name.startswith("delete")] == [
        "deleteEndpoint",
        "deleteTemplate",
    ]
    assert cpu["id"] not in fake.account.endpoints
    assert "handmade2" in fake.account.endpoints and foreign in fake.account.templates
    assert env_of(fake, "sentiment-orchestrator-template")["CPU_INFERENCE_ENDPOINT"] == ""
    code, out, _ = deploy("plan")
    assert "Plan: 0 to create, 0 to update, 8 unchanged." in out


def test_the_stand_in_refuses_what_runpods_api_would(fake):
    """The fake is only as good as its refusals: unknown fields, wrong types, wrong shapes."""

    def post(query: str, variables: dict) -> httpx.Response:
        return httpx.post(
            f"{fake.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )

    save = "mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id } }"
    base = {"name": "cpu-endpoint", "templateId": "nope", "instanceIds": ["cpu3c-2-4"]}
    # REST's computeType/cpuFlavorIds are not GraphQL fields (runpod-python#545).
    answer = post(save, {"input": {**base, "computeType": "CPU"}})
    assert answer.status_code == 400
    assert "'EndpointInput' not to include unknown field 'computeType'" in answer.text
    answer = post(save, {"input": {**base, "workersMax": "3"}})
    assert answer.status_code == 400 and "Int cannot represent" in answer.text
    answer = post(save.replace("EndpointInput!", "EndpointInput"), {"input": base})
    assert answer.status_code == 400 and "EndpointInput" in answer.text
    answer = post("query { myself { endpoints { id computeTyp } } }", {})
    assert answer.status_code == 400 and "Cannot query field 'computeTyp'" in answer.text
    template = post(
        "mutation t($input: SaveTemplateInput) { saveTemplate(input: $input) { id } }",
        {
            "input": {
                "name": "t1",
                "imageName": "x:1",
                "containerDiskInGb": 5,
                "volumeInGb": 0,
                "env": [],
                "isServerless": True,
            }
        },
    ).json()["data"]["saveTemplate"]["id"]
    answer = post(save, {"input": {**base, "templateId": template, "gpuIds": "ADA_24"}})
    assert "a CPU endpoint cannot take gpuIds" in answer.json()["errors"][0]["message"]
    gpu = {"name": "gpu-endpoint", "templateId": template, "gpuIds": "NVIDIA GeForce RTX 4090"}
    assert "pool ids" in post(save, {"input": gpu}).json()["errors"][0]["message"]
    assert httpx.post(f"{fake.url}/graphql", json={"query": save}).status_code == 401
