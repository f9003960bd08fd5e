"""End to end over real HTTP: the three workers' Runpod local API servers and the orchestrator.

The README's curl examples are run as written (only the port differs) and must answer what
the README shows; the tiny test model is deterministic, so even the numbers match.
"""

import asyncio
import math
import re

import httpx
import pytest

from scripts.readme_examples import README, examples, run_example

# Values that differ on every run or machine.
VOLATILE_KEYS = {"request_id", "timings", "model", "model_id", "inference_ms"}


def readme_examples() -> list[tuple[str, object]]:
    return examples(README.read_text())


def assert_same(actual, expected, path="response"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), path
        for key, value in expected.items():
            if key not in VOLATILE_KEYS:
                assert_same(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert math.isclose(actual, expected, abs_tol=1e-4), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_the_readme_has_an_example_for_every_route():
    commands = " ".join(cmd for cmd, _ in readme_examples())
    for route in [
        "/classify ",
        "/classify-batch",
        "/cpu/preprocess",
        "/gpu/inference",
        "/cpu/postprocess",
        "/ping",
        "/health",
    ]:
        assert f"localhost:8888{route}" in commands + " ", route


@pytest.mark.parametrize(("command", "expected"), readme_examples())
def test_readme_curl_examples(local_stack, command, expected):
    assert_same(run_example(command, local_stack.orchestrator.port), expected)


@pytest.fixture(scope="module")
def client(local_stack):
    with httpx.Client(base_url=local_stack.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def reference_pipeline(tiny_model_dir):
    from transformers import pipeline

    return pipeline("text-classification", model=str(tiny_model_dir), top_k=None, device="cpu")


PARITY_TEXTS = [
    "I love this product, it works great!",
    "The service was slow and the food was awful.",
    "It's okay. Not the best movie, not the worst.",
    "Would buy again 😊",
]


@pytest.mark.parametrize("text", PARITY_TEXTS)
def test_single_window_probabilities_equal_transformers_pipeline(client, reference_pipeline, text):
    body = client.post("/classify", json={"text": text}).json()
    assert body["metadata"]["windows"] == 1
    ours = {p["label"]: p["confidence"] for p in body["classification"]["all_predictions"]}
    [reference] = reference_pipeline([text])
    theirs = {p["label"]: p["score"] for p in reference}
    assert set(ours) == set(theirs)
    for label, score in theirs.items():
        assert ours[label] == pytest.approx(score, abs=1e-5)


def test_a_long_text_is_split_and_aggregated_not_truncated(client):
    sentence = "The first part was great but the ending was terrible. "
    text = (sentence * 200)[:10_000]
    response = client.post("/classify", json={"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    preprocessed = client.post("/cpu/preprocess", json={"text": text}).json()["output"]
    assert body["metadata"]["windows"] == len(preprocessed["windows"]) > 1
    assert body["metadata"]["char_count"] == len(text.strip())
    assert preprocessed["windows"][-1]["char_end"] == len(preprocessed["cleaned_text"])
    total = sum(p["confidence"] for p in body["classification"]["all_predictions"])
    assert total == pytest.approx(1, abs=1e-5)


def test_a_batch_answers_in_input_order_with_one_inference_job(client):
    texts = [*PARITY_TEXTS, "bad " * 300]
    batch = client.post("/classify-batch", json=[{"text": t} for t in texts]).json()
    assert batch["timings"]["preprocess"]["jobs"] == len(texts)
    assert batch["timings"]["inference"]["jobs"] == 1
    for text, result in zip(texts, batch["results"], strict=True):
        single = client.post("/classify", json={"text": text}).json()
        assert result["classification"]["label"] == single["classification"]["label"]
        assert result["classification"]["confidence"] == pytest.approx(
            single["classification"]["confidence"], abs=1e-5
        )


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("/classify", {"text": ""}, "Text cannot be empty"),
        ("/classify", {"text": "   "}, "Text cannot be empty"),
        ("/classify", {"text": "hi"}, "Text too short (minimum 3 characters)"),
        (
            "/classify",
            {"text": "a" * 10_001},
            "Text too long (maximum 10,000 characters). Got 10001 characters.",
        ),
        ("/classify", {}, "text: Field required"),
        ("/classify-batch", [], "Batch cannot be empty"),
        ("/classify-batch", [{"text": "fine"}] * 65, "Too many texts (maximum 64). Got 65."),
        ("/classify-batch", [{"text": "fine"}, {"text": ""}], "Text cannot be empty"),
        ("/cpu/preprocess", {"text": "no"}, "Text too short (minimum 3 characters)"),
        ("/gpu/inference", {"cleaned_text": "", "word_count": 0}, "Cleaned text cannot be empty"),
        (
            "/gpu/inference",
            {"cleaned_text": "fine", "word_count": -1},
            "word_count: Input should be greater than or equal to 0",
        ),
        (
            "/cpu/postprocess",
            {"predictions": [{"label": "POSITIVE", "confidence": 1.2}]},
            "Confidence must be between 0.0 and 1.0",
        ),
        (
            "/cpu/postprocess",
            {"predictions": ["string"]},
            "predictions[0]: Input should be a valid dictionary or instance of LabelScore",
        ),
    ],
)
def test_invalid_input_is_422_with_its_message(client, route, body, message):
    response = client.post(route, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == message
    assert response.json()["error_type"] == "invalid_input"


def test_malformed_json_is_422(client):
    response = client.post(
        "/classify", content=b'{"text": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "Request body is not valid JSON"


def test_request_ids_and_server_timing(client):
    response = client.post("/classify", json={"text": "Nice."}, headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] == "abc-1" == response.json()["request_id"]
    assert re.fullmatch(
        r"preprocess;dur=[\d.]+, inference;dur=[\d.]+, postprocess;dur=[\d.]+, total;dur=[\d.]+",
        response.headers["Server-Timing"],
    )
    generated = client.get("/ping").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_a_tokenizer_mismatch_is_refused_by_the_inference_worker(client):
    window = {"index": 0, "input_ids": [2, 50, 3], "char_start": 0, "char_end": 3}
    response = client.post(
        "/gpu/inference", json={"windows": [window], "tokenizer_fingerprint": "sha256:0000"}
    )
    # The caller's mistake, found by the worker: 422 naming the field, not a broken stage.
    assert response.status_code == 422
    body = response.json()
    assert "does not match this model's tokenizer" in body["error"]
    assert body["stage"] == "inference"
    assert body["error_type"] == "invalid_input"
    assert body["details"][0]["field"] == "tokenizer_fingerprint"


def test_concurrent_jobs_share_forward_passes_on_one_inference_worker(local_stack):
    inference = next(w for w in local_stack.workers if w.name == "inference")

    async def burst():
        async with httpx.AsyncClient(base_url=inference.url(local_stack.host), timeout=60) as http:
            jobs = [
                {"input": {"cleaned_text": f"job {i} was good", "word_count": 4}} for i in range(16)
            ]
            return await asyncio.gather(*(http.post("/runsync", json=job) for job in jobs))

    responses = asyncio.run(burst())
    outputs = [r.json()["output"] for r in responses]
    assert max(o["batching"]["max_jobs_in_a_pass"] for o in outputs) >= 2
