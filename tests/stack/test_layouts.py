"""Every layout answers the same, against real local processes (docs/api.md, routes by layout).

The split layout is the session's `local_stack`; inline and single each start their own
workers here: inline the inference worker alone (no CPU stage endpoint is given), single
the all-stage worker and its twin on ONNX Runtime. Same texts, same answers: labels and
probabilities within 1e-6 for the same backend (/classify: torch everywhere;
/classify-smart's short texts: ONNX Runtime, on the CPU endpoint in split, in the
orchestrator's process in inline, on the all-stage CPU endpoint in single), the same error
shapes and messages.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.local_stack import WORKERS, LocalStack, StartupError, free_port
from tests.stack.test_local_test_mode import run_handler

LONG_TEXT = " ".join(f"Sentence {i} says the film was good." for i in range(40))
TEXTS = ["I love it.", "Awful, just awful.", LONG_TEXT]
# Compared within TOLERANCE; anything the orchestrator adds per request is left out.
TOLERANCE = 1e-6
PER_REQUEST = {"request_id", "timings", "cost"}


def start(layout: str, model_dir: Path, **env: str) -> LocalStack:
    ports = {name: free_port() for name in (*(n for n, _, _ in WORKERS), "orchestrator")}
    return LocalStack(env={"MODEL_ID": str(model_dir), **env}, ports=ports, layout=layout)


@pytest.fixture(scope="module")
def inline_stack(tiny_onnx_model_dir: Path) -> Iterator[LocalStack]:
    # No CPU stage endpoint at all: the orchestrator runs those stages itself.
    with start(
        "inline",
        tiny_onnx_model_dir,
        PREPROCESS_ENDPOINT="",
        POSTPROCESS_ENDPOINT="",
        CPU_INFERENCE_ENDPOINT="inline",
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def single_stack(tiny_onnx_model_dir: Path) -> Iterator[LocalStack]:
    with start("single", tiny_onnx_model_dir) as stack:
        yield stack


@pytest.fixture(scope="module")
def clients(local_stack, inline_stack, single_stack) -> Iterator[dict[str, httpx.Client]]:
    stacks = {"split": local_stack, "inline": inline_stack, "single": single_stack}
    made = {name: httpx.Client(base_url=s.url, timeout=120) for name, s in stacks.items()}
    yield made
    for client in made.values():
        client.close()


def assert_close(actual, expected, path="answer"):
    """Equal, numbers within TOLERANCE; the per-request fields left out."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        keys = set(expected) - PER_REQUEST
        assert set(actual) - PER_REQUEST == keys, path
        for key in keys:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=TOLERANCE), path
    else:
        assert actual == expected, path


def answers(clients: dict[str, httpx.Client], path: str, body, layouts=None) -> dict:
    return {
        name: client.post(path, json=body)
        for name, client in clients.items()
        if layouts is None or name in layouts
    }


@pytest.mark.parametrize("text", TEXTS)
def test_classify_answers_the_same_in_every_layout(clients, text):
    got = answers(clients, "/classify", {"text": text})
    assert {r.status_code for r in got.values()} == {200}
    for name in ("inline", "single"):
        assert_close(got[name].json(), got["split"].json(), name)


def test_classify_batch_answers_the_same_in_every_layout(clients):
    got = answers(clients, "/classify-batch", [{"text": t} for t in TEXTS])
    assert {r.status_code for r in got.values()} == {200}
    for name in ("inline", "single"):
        assert_close(got[name].json(), got["split"].json(), name)


@pytest.mark.parametrize(("text", "endpoint"), [(TEXTS[0], "cpu"), (LONG_TEXT, "gpu")])
def test_classify_smart_answers_the_same_on_the_same_backend(clients, text, endpoint):
    """A short text: ONNX Runtime on the CPU endpoint (split), in the orchestrator (inline) or
    on the all-stage CPU endpoint (single); a long one: torch on the GPU endpoint, in all."""
    got = answers(clients, "/classify-smart", {"text": text})
    assert {r.status_code for r in got.values()} == {200}
    split = got["split"].json()
    assert split["route"]["endpoint"] == endpoint
    for name in ("inline", "single"):
        assert_close(got[name].json(), split, name)
    # The hop that ran: the all-stage CPU endpoint for the short text, billed at its price.
    hop, other = ("single_cpu", "single") if endpoint == "cpu" else ("single", "single_cpu")
    single = got["single"].json()
    assert single["timings"][hop]["round_trip_ms"] > 0 and other not in single["timings"]
    assert single["cost"][hop]["billed_s"] > 0 and other not in single["cost"]
    assert single["timings"]["inference"]["in_process"] is True


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/classify", {"text": ""}),
        ("/classify-smart", {"txt": "a"}),
        ("/classify-batch", []),
        ("/classify-batch", [{"text": "fine"}, {"text": 3}]),
    ],
)
def test_errors_answer_the_same_in_every_layout(clients, path, body):
    got = answers(clients, path, body)
    split = got["split"]
    for name, response in got.items():
        assert response.status_code == split.status_code, name
        assert_close(response.json(), split.json(), name)


def test_stage_routes_run_in_the_orchestrator_in_inline(clients):
    """Refused by the stage itself, run here: the same 422 as the postprocess worker's."""
    predictions = [{"label": "A", "confidence": 0.5}, {"label": "A", "confidence": 0.5}]
    got = answers(clients, "/cpu/postprocess", {"predictions": predictions}, ("split", "inline"))
    assert got["inline"].status_code == got["split"].status_code == 422
    assert_close(got["inline"].json(), got["split"].json())
    preprocessed = answers(clients, "/cpu/preprocess", {"text": LONG_TEXT}, ("split", "inline"))
    assert preprocessed["inline"].json()["timings"]["preprocess"]["in_process"] is True
    assert_close(preprocessed["inline"].json(), preprocessed["split"].json())


def test_stage_routes_answer_404_in_single(clients):
    for path in ("/cpu/preprocess", "/gpu/inference", "/cpu/inference", "/cpu/postprocess"):
        response = clients["single"].post(path, json={"text": "whatever"})
        assert response.status_code == 404, path
        body = response.json()
        assert body["error"].startswith(f"No route {path} in LAYOUT=single")
        assert body["error_type"] == "invalid_input"


def test_timings_and_cost_name_the_hops_that_ran(clients, inline_stack, single_stack):
    inline = clients["inline"].post("/classify", json={"text": TEXTS[0]}).json()
    assert inline["timings"]["preprocess"]["in_process"] is True
    assert inline["timings"]["postprocess"]["in_process"] is True
    assert "in_process" not in inline["timings"]["inference"]
    # Only the hop is billed per request; the stages run here are the orchestrator's own time.
    assert inline["cost"]["preprocess"] is None and inline["cost"]["postprocess"] is None
    assert inline["cost"]["inference"]["billed_s"] > 0

    single = clients["single"].post("/classify", json={"text": TEXTS[0]}).json()
    assert all(single["timings"][s]["in_process"] for s in ("preprocess", "postprocess"))
    assert single["timings"]["single"]["round_trip_ms"] > 0
    assert [k for k in ("preprocess", "inference", "postprocess") if single["cost"][k]] == []
    assert single["cost"]["single"]["billed_s"] > 0

    # Exactly the processes each layout needs.
    assert [w.name for w in inline_stack.workers] == ["inference"]
    assert [w.name for w in single_stack.workers] == ["single", "single_cpu"]
    health = clients["inline"].get("/health").json()["stages"]
    assert health["preprocess"]["detail"] == "reachable (in this process)"


def cpu_seconds(client: httpx.Client) -> tuple[dict[str, float], float]:
    """The orchestrator's in-process stages' CPU by stage, and its whole process's."""
    samples = [
        sample
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    ]
    in_process = {
        sample.labels["stage"]: sample.value
        for sample in samples
        if sample.name == "orchestrator_in_process_cpu_seconds_total"
    }
    [process] = [s.value for s in samples if s.name == "process_cpu_seconds_total"]
    return in_process, process


def test_metrics_count_the_cpu_of_the_stages_run_in_the_orchestrator(clients):
    """Apart from the orchestrator's own (docs/operations.md): inline's preprocess and
    postprocess, single's token count for the smart route; none in split."""
    clients["inline"].post("/classify", json={"text": TEXTS[0]}).raise_for_status()
    stages, process = cpu_seconds(clients["inline"])
    assert stages["preprocess"] > 0 and stages["postprocess"] > 0
    assert process > sum(stages.values())
    clients["single"].post("/classify-smart", json={"text": TEXTS[0]}).raise_for_status()
    stages, _ = cpu_seconds(clients["single"])
    assert stages["preprocess"] > 0 and "postprocess" not in stages
    assert cpu_seconds(clients["split"])[0] == {}


def test_the_single_handler_runs_in_runpods_local_test_mode(tiny_model_dir):
    job = json.dumps({"input": {"text": "What a lovely day."}})
    result = run_handler("single_worker", tiny_model_dir, "--test_input", job)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed successfully" in result.stdout

    refused = run_handler("single_worker", tiny_model_dir, "--test_input", '{"input": {}}')
    assert refused.returncode == 1
    assert 'send either \\"text\\"' in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    ("layout", "workers", "told"),
    [
        ("split", ["preprocess", "inference", "postprocess", "cpu_inference"], {}),
        (
            "inline",
            ["inference"],
            {
                "PREPROCESS_ENDPOINT": "",
                "POSTPROCESS_ENDPOINT": "",
                "CPU_INFERENCE_ENDPOINT": "inline",
            },
        ),
        (
            "single",
            ["single", "single_cpu"],
            {"PREPROCESS_ENDPOINT": "", "INFERENCE_ENDPOINT": "", "CPU_INFERENCE_ENDPOINT": ""},
        ),
    ],
)
def test_make_run_starts_exactly_the_processes_of_its_layout(layout, workers, told):
    stack = LocalStack(ports={"orchestrator": free_port()}, layout=layout)
    assert [w.name for w in stack.workers] == workers
    assert stack._env["LAYOUT"] == layout
    assert {k: stack._env[k] for k in told} == told


def test_an_unknown_layout_is_refused_naming_the_choices():
    with pytest.raises(StartupError, match="LAYOUT='both' is not a layout: one of split, inline"):
        LocalStack(layout="both")
