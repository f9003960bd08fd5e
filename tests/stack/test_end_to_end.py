"""End to end over real HTTP: the three workers' Runpod local API servers and the orchestrator.

The API page's curl examples (docs/api.md) are run as written (only the port differs) and must
answer what the page shows: the same shape, and the same values except those of the random test
model's weights, which a library upgrade may change.
"""

import asyncio
import re

import httpx
import pytest

from scripts.api_examples import all_examples, run_example

# Values that differ on every run or machine: only their type is compared.
VOLATILE_KEYS = {
    "request_id",
    "timings",
    "cost",
    "model",
    "model_id",
    "inference_ms",
    "batching",
}
# Values of the random test model, or of a tokenizer's serialization, that a library upgrade
# may change: compared by kind, not value.
MODEL_DEPENDENT_KEYS = {"label", "confidence_level", "fingerprint", "tokenizer_fingerprint"}


def assert_same(actual, expected, path="response"):
    """The page's answer and the live one have the same shape, and the same values where a
    value does not depend on the random model's weights (floats are probabilities: checked
    to be ones, not compared to the digit)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), path
        for key, value in expected.items():
            if key in VOLATILE_KEYS:
                assert isinstance(actual[key], type(value)) or value is None, f"{path}.{key}"
            elif key in MODEL_DEPENDENT_KEYS:
                assert isinstance(actual[key], str) and isinstance(value, str), f"{path}.{key}"
            else:
                assert_same(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(actual, int | float), path
        if 0.0 <= expected <= 1.0:
            assert 0.0 <= actual <= 1.0, f"{path}: {actual} is no probability"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_the_api_page_has_an_example_for_every_route():
    commands = " ".join(cmd for cmd, _ in all_examples())
    for route in [
        "/classify ",
        "/classify-batch",
        "/cpu/preprocess",
        "/gpu/inference",
        "/cpu/inference",
        "/cpu/postprocess",
        "/ping",
        "/health",
    ]:
        assert f"localhost:8888{route}" in commands + " ", route


@pytest.mark.parametrize(("command", "expected"), all_examples())
def test_api_page_curl_examples(local_stack, command, expected):
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
    preprocessed = client.post("/cpu/preprocess", json={"text": text}).json()
    assert body["metadata"]["windows"] == len(preprocessed["windows"]) > 1
    assert body["metadata"]["char_count"] == len(text.strip())
    assert preprocessed["windows"][-1]["char_end"] == len(preprocessed["cleaned_text"])
    total = sum(p["confidence"] for p in body["classification"]["all_predictions"])
    assert total == pytest.approx(1, abs=1e-5)


def test_a_batch_answers_in_input_order_with_one_job_per_stage(client):
    texts = [*PARITY_TEXTS, "bad " * 300]
    batch = client.post("/classify-batch", json=[{"text": t} for t in texts]).json()
    for stage in ("preprocess", "inference", "postprocess"):
        assert batch["timings"][stage]["jobs"] == 1, stage
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
            "predictions[0]: Input should be a valid dictionary or instance of Prediction",
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


# Caller mistakes a worker finds are the caller's 422, naming the field -------------------


def test_duplicate_labels_found_by_the_postprocess_worker_are_422(client):
    predictions = [{"label": "A", "confidence": 0.5}, {"label": "A", "confidence": 0.5}]
    response = client.post("/cpu/postprocess", json={"predictions": predictions})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "Duplicate label 'A' in predictions"
    assert body["stage"] == "postprocess"
    assert body["details"] == [{"field": "predictions", "message": body["error"]}]


def test_token_ids_outside_the_vocabulary_are_422(client):
    preprocessed = client.post("/cpu/preprocess", json={"text": "A fine day."}).json()
    window = {**preprocessed["windows"][0]}
    window["input_ids"] = [*window["input_ids"][:-1], 10**9]
    response = client.post(
        "/gpu/inference",
        json={
            "windows": [window],
            "tokenizer_fingerprint": preprocessed["tokenizer"]["fingerprint"],
        },
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert "outside the model's vocabulary" in body["error"]
    assert body["stage"] == "inference"
    assert body["details"][0]["field"].startswith("windows[0].input_ids")


# Text that cannot be encoded -------------------------------------------------------------

SURROGATES = [
    ("/classify", b'{"text": "\\ud800 abc"}'),
    ("/classify-batch", b'[{"text": "\\ud800 abc"}]'),
    ("/cpu/preprocess", b'{"text": "\\ud800 abc"}'),
    ("/gpu/inference", b'{"cleaned_text": "\\ud800 abc", "word_count": 1}'),
    ("/cpu/postprocess", b'{"predictions": [{"label": "\\ud800", "confidence": 1.0}]}'),
]


def test_a_lone_surrogate_is_422_and_the_connection_stays_usable(local_stack):
    # One keep-alive connection for all: a broken answer would reset the next request.
    with httpx.Client(base_url=local_stack.url, timeout=30) as http:
        for route, raw in SURROGATES:
            response = http.post(route, content=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, (route, response.text)
            assert response.json()["error"] == "Text is not valid Unicode", route
            assert http.get("/ping").status_code == 200


# Bounded work ----------------------------------------------------------------------------


def test_a_huge_batch_is_refused_at_once_while_other_requests_are_served(local_stack):
    junk = ("[" + ",".join(["{}"] * 300_000) + "]").encode()

    async def both():
        async with httpx.AsyncClient(base_url=local_stack.url, timeout=30) as http:
            started = asyncio.get_running_loop().time()
            batch = asyncio.create_task(
                http.post(
                    "/classify-batch", content=junk, headers={"Content-Type": "application/json"}
                )
            )
            single = asyncio.create_task(http.post("/classify", json={"text": "A fine day."}))
            refused = await batch
            elapsed = asyncio.get_running_loop().time() - started
            return refused, elapsed, await single

    refused, elapsed, single = asyncio.run(both())
    assert refused.status_code == 422
    assert refused.json()["error"] == "Too many texts (maximum 64). Got 300000."
    assert elapsed < 1.0
    assert single.status_code == 200
