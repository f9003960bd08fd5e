"""Preprocess worker configuration, read from the environment."""

from pydantic import Field

from worker_runtime.settings import ModelWorkerSettings


class PreprocessSettings(ModelWorkerSettings):
    max_tokens_per_window: int | None = Field(
        default=None,
        description="A smaller window than the model allows; unset means the model's maximum.",
    )
