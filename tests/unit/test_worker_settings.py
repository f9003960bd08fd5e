"""The workers' settings: the fields they share are defined once, with one set of bounds, and
every field says what it means (the README's configuration table is checked against them)."""

import pytest
from pydantic import ValidationError

from inference_worker.settings import InferenceSettings
from postprocess_worker.settings import PostprocessSettings
from preprocess_worker.settings import PreprocessSettings
from worker_runtime.settings import ModelWorkerSettings, WorkerSettings

WORKER_SETTINGS = [PreprocessSettings, InferenceSettings, PostprocessSettings]


@pytest.mark.parametrize("settings_class", WORKER_SETTINGS)
def test_every_field_is_described(settings_class):
    for name, field in settings_class.model_fields.items():
        assert field.description, f"{settings_class.__name__}.{name} has no description"


@pytest.mark.parametrize("settings_class", WORKER_SETTINGS)
def test_shared_fields_come_from_one_base(settings_class):
    for name, field in WorkerSettings.model_fields.items():
        assert repr(settings_class.model_fields[name]) == repr(field)


@pytest.mark.parametrize("settings_class", [PreprocessSettings, InferenceSettings])
def test_model_workers_share_the_model_and_the_window_overlap(settings_class):
    for name in ("model_id", "model_revision", "window_overlap_tokens"):
        assert repr(settings_class.model_fields[name]) == repr(
            ModelWorkerSettings.model_fields[name]
        )


@pytest.mark.parametrize("settings_class", [PreprocessSettings, InferenceSettings])
def test_a_negative_window_overlap_is_refused_by_both(settings_class, monkeypatch):
    monkeypatch.setenv("WINDOW_OVERLAP_TOKENS", "-1")
    with pytest.raises(ValidationError, match="window_overlap_tokens"):
        settings_class()


@pytest.mark.parametrize("settings_class", WORKER_SETTINGS)
def test_max_concurrency_has_the_same_bounds_everywhere(settings_class, monkeypatch):
    monkeypatch.setenv("MAX_CONCURRENCY", "0")
    with pytest.raises(ValidationError, match="max_concurrency"):
        settings_class()
    monkeypatch.setenv("MAX_CONCURRENCY", "256")
    assert settings_class().max_concurrency == 256
