"""Preprocess worker configuration, read from the environment."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.model_source import DEFAULT_MODEL_ID


class PreprocessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", protected_namespaces=())

    model_id: str = DEFAULT_MODEL_ID
    model_revision: str | None = None
    # Tokens shared by consecutive windows, so no sentence loses its context at a cut.
    window_overlap_tokens: int = 128
    # Optional cap below the model's own maximum sequence length.
    max_tokens_per_window: int | None = None
    # Jobs one worker holds at once (Runpod's concurrency_modifier).
    max_concurrency: int = Field(default=8, ge=1, le=256)
