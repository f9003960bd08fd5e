"""Postprocess worker configuration, read from the environment."""

from worker_runtime.settings import WorkerSettings


class PostprocessSettings(WorkerSettings):
    """The postprocess worker needs no setting of its own: no model, no tokenizer."""
