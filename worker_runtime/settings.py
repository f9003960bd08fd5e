"""The settings every worker shares, with one set of bounds; each worker adds its own."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.limits import Limits
from worker_runtime.model_files import DEFAULT_MODEL_ID


class WorkerSettings(BaseSettings):
    """Read from the environment: each field is the variable's name in lower case."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", protected_namespaces=())

    max_concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description=(
            "Jobs one worker holds at once (Runpod's concurrency_modifier): on a GPU they share "
            "forward passes; on a CPU they save a job fetch round trip each."
        ),
    )


class ModelWorkerSettings(WorkerSettings):
    """The workers that load the model (preprocess and inference): the same model for both, so
    preprocess never makes token ids that inference refuses, and the same cut into windows."""

    model_id: str = Field(
        default=DEFAULT_MODEL_ID,
        description=(
            "Hugging Face model id, or a local directory. Preprocess and inference must name "
            "the same model."
        ),
    )
    model_revision: str | None = Field(
        default=None, description="Branch, tag or commit of MODEL_ID; unset means main."
    )
    window_overlap_tokens: int = Field(
        default=128,
        ge=0,
        le=Limits.MAX_TOKENS_PER_WINDOW,
        description=(
            "Tokens shared by consecutive windows of a long text (at most half a window), so "
            "no sentence loses its context at a cut."
        ),
    )
