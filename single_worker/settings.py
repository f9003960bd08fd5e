"""All-stage worker configuration, read from the environment: the preprocess worker's and the
inference worker's settings in one object (the same MODEL_ID for both, as always)."""

from pydantic import Field

from inference_worker.settings import InferenceSettings
from preprocess_worker.settings import PreprocessSettings


class SingleSettings(InferenceSettings, PreprocessSettings):
    stage_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "Threads that run preprocess and postprocess, never on the handler's event loop "
            "(inference has its own)."
        ),
    )
