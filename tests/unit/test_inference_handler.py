"""The inference worker's Runpod handler, called in process and through the Runpod SDK's own
job runner: typed errors naming the field, model errors, and a poisoned GPU that asks Runpod
for a new worker. The model is a stand-in (no GPU here to fail); everything else is real."""

import asyncio
import threading

import pytest
import torch
from pydantic import TypeAdapter
from runpod.serverless.modules import rp_job

import inference_worker.stage as stage
from contracts import InferenceOutput, InferenceSingleOutput, ModelInfo, WorkerError
from inference_worker.handler import make_handler
from inference_worker.settings import InferenceSettings

FINGERPRINT = "sha256:stand-in"
POISON = (
    "CUDA error: an illegal memory access was encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the "
    "stacktrace below might be incorrect."
)


class StandInClassifier:
    """The surface the stage uses; `fail` decides, per pass, what the forward raises."""

    vocab_size = 1000
    max_length = 16
    fingerprint = FINGERPRINT

    def __init__(self, fail=None):
        self.labels = ["NEGATIVE", "POSITIVE"]
        self.info = ModelInfo(
            model_id="stand-in",
            labels=self.labels,
            max_length=self.max_length,
            tokenizer_fingerprint=FINGERPRINT,
            device="cuda:0",
            dtype="float16",
        )
        self.fail = fail or (lambda sequences: None)
        self.passes = 0

    def probabilities(self, sequences):
        self.passes += 1
        error = self.fail(sequences)
        if error is not None:
            raise error
        return [[0.25, 0.75] if seq[0] % 2 else [0.75, 0.25] for seq in sequences]

    def split_text(self, text, overlap_tokens):
        raise AssertionError("not used here")


# A text sent on its own is answered on its own; a batch with its results.
ANY_OUTPUT = TypeAdapter(InferenceOutput | InferenceSingleOutput)


def windows(*sequences):
    return {
        "tokenizer_fingerprint": FINGERPRINT,
        "windows": [
            {"index": i, "input_ids": list(ids), "char_start": 0, "char_end": 4}
            for i, ids in enumerate(sequences)
        ],
    }


def call(handler, *inputs):
    async def run():
        return await asyncio.gather(
            *(handler({"id": f"job-{i}", "input": job}) for i, job in enumerate(inputs))
        )

    return asyncio.run(run())


def handler_for(classifier, **settings):
    return make_handler(classifier, InferenceSettings(max_batch_wait_ms=0, **settings))


def typed(result) -> WorkerError:
    error = WorkerError.from_wire(result["error"])
    assert error is not None, result
    return error


def test_the_output_is_plain_data_shaped_exactly_as_the_contract():
    handler = handler_for(StandInClassifier())
    [result] = call(handler, {"items": [windows([1, 2]), windows([2, 3], [5, 6, 7])]})
    # A round trip through the contract changes nothing: same keys, values and order.
    assert InferenceOutput.model_validate(result).model_dump() == result
    second = result["results"][1]["windows"][1]
    assert second["predictions"] == [
        {"label": "POSITIVE", "confidence": 0.75},
        {"label": "NEGATIVE", "confidence": 0.25},
    ]
    assert second["token_count"] == 3


def test_checks_and_output_run_off_the_event_loop(monkeypatch):
    threads = []
    for name in ("parse_job", "build_output"):
        original = getattr(stage, name)

        def recorded(*args, _original=original, _name=name):
            threads.append((_name, threading.current_thread().name))
            return _original(*args)

        monkeypatch.setattr(stage, name, recorded)
    [result] = call(handler_for(StandInClassifier()), windows([1, 2]))
    assert "error" not in result
    assert [name for name, _ in threads] == ["parse_job", "build_output"]
    assert all(thread.startswith("inference-cpu") for _, thread in threads), threads


@pytest.mark.parametrize(
    ("job_input", "field", "message"),
    [
        (
            windows([1, 2], [3, 10**9, 4]),
            "windows[1].input_ids",
            "token id 1000000000 at position 1 is outside the model's vocabulary (0..999)",
        ),
        (windows([1, -1]), "windows[0].input_ids", "token id -1 at position 1"),
        # One item is named as sent bare: the orchestrator wraps what its caller sent bare.
        ({"items": [windows([7, 1000])]}, "windows[0].input_ids", "token id 1000 at position 1"),
        (windows([1, 10**30]), "windows[0].input_ids", f"token id {10**30} at position 1"),
        (
            {"items": [windows([1]), windows([1], [2] * 17)]},
            "items[1].windows[1].input_ids",
            "the window has 17 tokens; the model accepts at most 16",
        ),
        (
            {"items": [windows([1]), {**windows([1]), "tokenizer_fingerprint": "sha256:x"}]},
            "items[1].tokenizer_fingerprint",
            "does not match this model's tokenizer",
        ),
    ],
)
def test_ids_the_model_cannot_take_are_invalid_input_naming_the_field(job_input, field, message):
    classifier = StandInClassifier()
    [result] = call(handler_for(classifier), job_input)
    error = typed(result)
    assert error.error_type == "invalid_input"
    assert [detail.field for detail in error.details] == [field]
    assert message in error.error
    assert classifier.passes == 0


def test_a_failed_pass_fails_its_own_job_only():
    classifier = StandInClassifier(
        fail=lambda seqs: RuntimeError("shape mismatch") if [666] in seqs else None
    )
    # One window a pass, so the two jobs never share one.
    good, bad = call(handler_for(classifier, max_batch_size=1), windows([1], [3]), windows([666]))
    assert ANY_OUTPUT.validate_python(good)
    error = typed(bad)
    assert error.error_type == "model_error"
    assert "the forward pass failed (shape mismatch)" in error.error
    assert "refresh_worker" not in bad


def test_out_of_memory_fails_its_jobs_and_the_worker_serves_on():
    failures = iter([torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")])
    classifier = StandInClassifier(fail=lambda seqs: next(failures, None))
    handler = handler_for(classifier)
    [failed] = call(handler, windows([1]))
    assert typed(failed).error_type == "model_error"
    assert "ran out of memory" in typed(failed).error
    assert "refresh_worker" not in failed
    [served] = call(handler, windows([1]))
    assert ANY_OUTPUT.validate_python(served)


def test_probabilities_that_are_not_numbers_are_a_model_error():
    class Overflowing(StandInClassifier):
        def probabilities(self, sequences):
            return [[float("nan"), float("nan")] for _ in sequences]

    [result] = call(handler_for(Overflowing()), windows([1]))
    assert typed(result).error_type == "model_error"
    assert "not numbers" in typed(result).error


def test_a_poisoned_gpu_fails_its_jobs_and_runpod_replaces_the_worker(monkeypatch):
    classifier = StandInClassifier(fail=lambda seqs: RuntimeError(POISON))
    handler = handler_for(classifier)
    posted = []

    async def send_result(session, job_data, job, is_stream=False):
        posted.append(job_data)

    # The SDK's own path for a job: handle_job runs run_job (which calls our handler and
    # reads its result), then posts the result to Runpod; only the HTTP post is caught here.
    monkeypatch.setattr(rp_job, "send_result", send_result)
    job = {"id": "job-1", "input": windows([1, 2])}
    asyncio.run(rp_job.handle_job(None, {"handler": handler}, job))
    [result] = posted
    # stopPod in a job's result is how Runpod is told to stop this worker after the job.
    assert result["stopPod"] is True
    error = typed(result)
    assert error.error_type == "model_error"
    assert "an illegal memory access was encountered" in error.error
    assert "this worker is being replaced" in error.error
    assert "refresh_worker" not in result.get("output", {})

    # Every later job fails at once, without touching the device, and asks again.
    passes = classifier.passes
    later = asyncio.run(rp_job.run_job(handler, {"id": "job-2", "input": windows([3])}))
    assert later["stopPod"] is True
    assert typed(later).error_type == "model_error"
    assert classifier.passes == passes


def test_a_job_that_succeeded_before_the_gpu_failed_keeps_its_result():
    classifier = StandInClassifier(
        fail=lambda seqs: RuntimeError(POISON) if [666] in seqs else None
    )
    good, bad = call(handler_for(classifier, max_batch_size=1), windows([1]), windows([666]))
    assert ANY_OUTPUT.validate_python({k: v for k, v in good.items() if k != "refresh_worker"})
    assert typed(bad).error_type == "model_error"
    assert bad["refresh_worker"] is True
