"""The pattern's own API, exactly: its README's curl examples, in its order, against the live
pipeline, answer as it documents (runpod/flash-examples, 01_getting_started/03_mixed_workers).

Clients written for the pattern read its stage routes' fields at the top level
(`cleaned_text`, `word_count`, `predictions`, `classification`) and its messages word for
word; everything this project adds (windows, batches, fingerprints) is there beside them.
"""

import httpx
import pytest


@pytest.fixture(scope="module")
def client(local_stack):
    with httpx.Client(base_url=local_stack.url, timeout=60) as http:
        yield http


def assert_classification(body: dict) -> None:
    classification = body["classification"]
    assert isinstance(classification["label"], str)
    assert 0.0 <= classification["confidence"] <= 1.0
    assert classification["confidence_level"] in {"high", "medium", "low"}


def test_the_patterns_examples_in_its_order(client):
    # "Complete pipeline (recommended)"
    response = client.post("/classify", json={"text": "This product is amazing! I love it!"})
    assert response.status_code == 200, response.text
    assert_classification(response.json())

    # "Individual stages"
    response = client.post("/cpu/preprocess", json={"text": "Test message"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cleaned_text"] == "Test message"
    assert body["word_count"] == 2
    assert body["sentence_count"] == 1
    assert body["char_count"] == 12

    response = client.post("/gpu/inference", json={"cleaned_text": "Test message", "word_count": 2})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert {p["label"] for p in predictions} == {"POSITIVE", "NEGATIVE"}
    assert sum(p["confidence"] for p in predictions) == pytest.approx(1.0, abs=1e-5)
    assert "model_info" in response.json()

    # "Valid requests"
    response = client.post("/classify", json={"text": "This product is amazing!"})
    assert response.status_code == 200, response.text
    assert_classification(response.json())

    response = client.post(
        "/cpu/postprocess",
        json={
            "predictions": [
                {"label": "positive", "confidence": 0.9},
                {"label": "negative", "confidence": 0.1},
            ],
            "original_text": "This is great!",
            "metadata": {"word_count": 3},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["classification"]["label"] == "positive"
    assert body["classification"]["confidence"] == 0.9
    assert body["classification"]["confidence_level"] == "high"
    assert body["metadata"]["word_count"] == 3

    # "Invalid requests (rejected with 422)"
    for route, request, message in [
        ("/classify", {"text": "Hi"}, "Text too short (minimum 3 characters)"),
        (
            "/cpu/postprocess",
            {"predictions": ["string"], "original_text": "Test", "metadata": {}},
            "Input should be a valid dictionary or instance of Prediction",
        ),
        (
            "/cpu/postprocess",
            {
                "predictions": [{"label": "test", "confidence": 1.5}],
                "original_text": "Test",
                "metadata": {},
            },
            "Confidence must be between 0.0 and 1.0",
        ),
    ]:
        response = client.post(route, json=request)
        assert response.status_code == 422, (route, response.text)
        assert response.json()["error"].endswith(message), response.json()["error"]


def test_the_patterns_long_text_message_word_for_word(client):
    response = client.post("/classify", json={"text": "x" * 15_000})
    assert response.status_code == 422
    assert response.json()["error"] == (
        "Text too long (maximum 10,000 characters). Got 15000 characters."
    )
