"""The orchestrator's errors: one table from error to HTTP status, and one reading of a
failed Runpod job's `error` shared by the orchestrator and `deploy smoke`."""

import pytest
from starlette.exceptions import HTTPException

from contracts import ErrorType, FieldError, Stage, WorkerError
from contracts.job_error import read_job_error
from deploy.smoke import _job_error
from orchestrator.errors import (
    STATUS,
    BodyTooLargeError,
    InternalError,
    InvalidRequestError,
    OrchestratorError,
    StageFailedError,
    StageOverloadedError,
    StageRejectedInputError,
    StageTimeoutError,
    StageUnavailableError,
    TooManyInFlightError,
    failed_job_error,
    status_of,
)
from tests.fake_runpod import SDK_TRACEBACK_ERROR


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequestError("bad"), 422),
        (BodyTooLargeError(1_000), 413),
        (TooManyInFlightError(4), 429),
        (InternalError(), 500),
        (StageFailedError(Stage.INFERENCE, "x"), 502),
        (StageFailedError(Stage.INFERENCE, "x", ErrorType.INTERNAL), 502),
        (StageRejectedInputError(Stage.POSTPROCESS, "x", []), 422),
        (StageOverloadedError(Stage.INFERENCE, "x"), 429),
        (StageUnavailableError(Stage.PREPROCESS, "x"), 503),
        (StageTimeoutError(Stage.INFERENCE, "x"), 504),
        (HTTPException(405), 405),
    ],
)
def test_each_error_has_its_status_in_the_one_table(error: Exception, status: int) -> None:
    assert status_of(error) == status
    if not isinstance(error, HTTPException):
        assert error.status_code == status


def test_the_table_holds_the_statuses_and_no_error_class_sets_its_own() -> None:
    assert isinstance(vars(OrchestratorError)["status_code"], property)
    for error_class in STATUS:
        if error_class is not OrchestratorError:
            assert "status_code" not in vars(error_class), error_class


def test_a_failed_jobs_error_is_read_once_for_the_orchestrator_and_smoke() -> None:
    read = read_job_error(SDK_TRACEBACK_ERROR)
    assert read.is_raised_exception and read.exception_name == "KeyError"
    # The orchestrator passes on the class name alone; smoke, for the operator, the message.
    assert failed_job_error(Stage.INFERENCE, SDK_TRACEBACK_ERROR).message == (
        "inference stage: the worker raised KeyError"
    )
    assert _job_error(SDK_TRACEBACK_ERROR) == "<class 'KeyError'>: 'secret-internal-detail'"

    typed = WorkerError(
        error="Duplicate label",
        error_type=ErrorType.INVALID_INPUT,
        details=[FieldError(field="labels", message="Duplicate label")],
    ).to_wire()
    assert read_job_error(typed).typed is not None
    assert isinstance(failed_job_error(Stage.POSTPROCESS, typed), StageRejectedInputError)
    assert _job_error(typed) == "Duplicate label"

    assert read_job_error("plain words").text == "plain words"
    assert _job_error("plain words") == "plain words"
    assert failed_job_error(Stage.PREPROCESS, "plain words").message == (
        "preprocess stage: plain words"
    )


def test_a_task_groups_stage_errors_come_out_as_the_first_one_unwrapped():
    from orchestrator.errors import StageTimeoutError, StageUnavailableError, first_stage_error

    unreachable = StageUnavailableError(Stage.INFERENCE, "cannot reach the endpoint")
    late = StageTimeoutError(Stage.INFERENCE, "no result within 1 s")
    # Nested as a TaskGroup inside a TaskGroup raises them.
    failures = ExceptionGroup("outer", [ExceptionGroup("inner", [unreachable]), late])
    assert first_stage_error(failures) is unreachable
    # A failure that is not a stage's is a bug: the whole group goes on, to be answered 500.
    mixed = ExceptionGroup("mixed", [unreachable, KeyError("bug")])
    assert first_stage_error(mixed) is mixed
