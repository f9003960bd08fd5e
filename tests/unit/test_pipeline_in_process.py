"""The pipeline over stage clients in this process: anything with a StageClient's methods runs
it, as Runpod endpoints do (tests/stack has it over the real workers)."""

import asyncio
from typing import Any

import pytest

from contracts import RouteChoice, Stage, StageTiming
from orchestrator.errors import StageRejectedInputError
from orchestrator.pipeline import Pipeline
from orchestrator.stage_client import HealthReading, StageClient

MODEL_INFO = {
    "model_id": "stand-in",
    "labels": ["POSITIVE", "NEGATIVE"],
    "max_length": 8,
    "tokenizer_fingerprint": "fp",
    "device": "cpu",
    "dtype": "float32",
}


class InProcessStage:
    """A stage run by a plain function in this process."""

    def __init__(self, stage: Stage, work) -> None:
        self.stage = stage
        self.name = stage.value
        self.jobs: list[dict[str, Any]] = []
        self._work = work

    async def run(self, job_input: dict[str, Any]) -> tuple[Any, StageTiming]:
        self.jobs.append(job_input)
        return self._work(job_input), StageTiming(round_trip_ms=1.0)

    async def health(self, timeout_s: float) -> HealthReading:
        return HealthReading(hosted=False, status_code=200)

    async def drain_cancellations(self) -> None:
        return None


def preprocess(job: dict[str, Any]) -> dict[str, Any]:
    results = []
    for item in job["items"]:
        text = item["text"]
        if text == "refuse me":
            results.append({"error": "Text is refused", "error_type": "invalid_input"})
            continue
        results.append(
            {
                "cleaned_text": text,
                "word_count": len(text.split()),
                "sentence_count": 1,
                "char_count": len(text),
                "windows": [
                    {"index": 0, "input_ids": [1, 2, 3], "char_start": 0, "char_end": len(text)}
                ],
                "tokenizer": {"fingerprint": "fp", "max_length": 8, "stride": 2},
            }
        )
    return {"results": results}


def infer(job: dict[str, Any]) -> dict[str, Any]:
    def predictions(window: dict[str, Any]) -> list[dict[str, Any]]:
        positive = 0.9 if window["char_end"] % 2 == 0 else 0.2
        ranked = [("POSITIVE", positive), ("NEGATIVE", 1 - positive)]
        ranked.sort(key=lambda pair: -pair[1])
        return [{"label": label, "confidence": p} for label, p in ranked]

    return {
        "results": [
            {
                "windows": [
                    {
                        "index": w["index"],
                        "token_count": len(w["input_ids"]),
                        "char_start": w["char_start"],
                        "char_end": w["char_end"],
                        "predictions": predictions(w),
                    }
                    for w in item["windows"]
                ]
            }
            for item in job["items"]
        ],
        "model_info": MODEL_INFO,
        "batching": {"forward_passes": 1, "largest_batch": 1, "max_jobs_in_a_pass": 1},
        "inference_ms": 1.0,
    }


def postprocess(job: dict[str, Any]) -> dict[str, Any]:
    results = []
    for item in job["items"]:
        best = item["windows"][0]["predictions"][0]
        results.append(
            {
                "classification": {
                    "label": best["label"],
                    "confidence": best["confidence"],
                    "confidence_level": "high",
                    "all_predictions": item["windows"][0]["predictions"],
                },
                "metadata": {"windows": len(item["windows"]), **item["stats"]},
            }
        )
    return {"results": results}


def stages() -> dict[Stage, InProcessStage]:
    return {
        Stage.PREPROCESS: InProcessStage(Stage.PREPROCESS, preprocess),
        Stage.INFERENCE: InProcessStage(Stage.INFERENCE, infer),
        Stage.POSTPROCESS: InProcessStage(Stage.POSTPROCESS, postprocess),
    }


def test_an_in_process_stage_is_a_stage_client() -> None:
    stage: StageClient = InProcessStage(Stage.PREPROCESS, preprocess)
    assert asyncio.run(stage.health(1.0)).answered


def test_the_pipeline_runs_one_job_per_stage_for_every_request_in_process() -> None:
    clients = stages()
    outcomes, timings = asyncio.run(
        Pipeline(clients).classify_many([["good"], ["fine one", "bad"]], ["a", "b"])
    )
    assert [[r.classification.label for r in o.results] for o in outcomes] == [
        ["POSITIVE"],
        ["POSITIVE", "NEGATIVE"],
    ]
    assert all(len(client.jobs) == 1 for client in clients.values())
    assert set(timings) == {Stage.PREPROCESS, Stage.INFERENCE, Stage.POSTPROCESS}
    assert clients[Stage.PREPROCESS].jobs[0]["request_ids"] == ["a", "b"]
    assert outcomes[1].route is not None and outcomes[1].route.endpoint == RouteChoice.GPU


def test_a_refused_text_fails_its_own_request_only() -> None:
    outcomes, _ = asyncio.run(
        Pipeline(stages()).classify_many([["refuse me"], ["good"]], ["a", "b"])
    )
    assert isinstance(outcomes[0].error, StageRejectedInputError)
    assert outcomes[0].error.message == "Text is refused"
    assert outcomes[1].error is None and outcomes[1].results


@pytest.mark.parametrize("texts", [["x" * 3], ["one", "two", "three"]])
def test_each_request_gets_its_own_slice_of_a_shared_job(texts: list[str]) -> None:
    outcomes, _ = asyncio.run(Pipeline(stages()).classify_many([texts, ["last"]]))
    assert [len(o.results) for o in outcomes] == [len(texts), 1]
