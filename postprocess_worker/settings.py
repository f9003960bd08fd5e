"""Postprocess worker configuration, read from the environment."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PostprocessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # Jobs one worker holds at once (Runpod's concurrency_modifier).
    max_concurrency: int = Field(default=8, ge=1, le=256)
