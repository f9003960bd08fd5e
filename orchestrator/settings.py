"""Orchestrator configuration, read from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import (
    DEFAULT_CPU_USD_PER_S,
    DEFAULT_GPU_USD_PER_S,
    DEFAULT_SMART_MAX_CPU_TOKENS,
    Endpoint,
    Limits,
    StagePrices,
)
from contracts.layouts import IN_PROCESS, Layout
from orchestrator.caller_keys import CallerKeys, configured_keys
from orchestrator.job_ttl import DEFAULT_JOB_TTL_S

RUNPOD_API_BASE = "https://api.runpod.ai/v2"


def endpoint_base_url(endpoint: str, api_base: str = RUNPOD_API_BASE) -> str:
    """A Runpod endpoint id means the hosted API; a full URL is used as it is (local mode)."""
    endpoint = endpoint.strip().rstrip("/")
    if endpoint.startswith(("http://", "https://")):
        return endpoint
    return f"{api_base.rstrip('/')}/{endpoint}"


def is_hosted(endpoint: str, api_base: str = RUNPOD_API_BASE) -> bool:
    """An endpoint id, or a URL of Runpod's hosted API: it bills, has /cancel and /health."""
    return endpoint_base_url(endpoint, api_base).startswith(api_base.rstrip("/"))


@dataclass(frozen=True)
class EndpointSettings:
    """One endpoint's settings, as OrchestratorSettings.endpoint() reads them."""

    endpoint: Endpoint
    # An endpoint id, or a URL (empty: not set; only the CPU inference endpoint may be).
    value: str
    timeout_s: float
    usd_per_s: float
    api_base: str = RUNPOD_API_BASE

    @property
    def is_set(self) -> bool:
        return bool(self.value)

    @property
    def base_url(self) -> str:
        return endpoint_base_url(self.value, self.api_base)

    @property
    def hosted(self) -> bool:
        return self.is_set and is_hosted(self.value, self.api_base)


class OrchestratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    runpod_api_base: str = Field(
        default=RUNPOD_API_BASE,
        description="Where endpoint ids point; change it only for a stand-in of Runpod's API.",
    )
    preprocess_endpoint: str = Field(
        default="http://localhost:8001",
        description=(
            "A Runpod endpoint id (meaning `https://api.runpod.ai/v2/<id>`) or a full base URL. "
            "`make run` points the four endpoints at its workers unless they are set."
        ),
    )
    inference_endpoint: str = Field(default="http://localhost:8002", description="Likewise.")
    postprocess_endpoint: str = Field(default="http://localhost:8003", description="Likewise.")
    cpu_inference_endpoint: str = Field(
        default="http://localhost:8004",
        description=(
            "The CPU inference endpoint (the `inference-cpu` image: ONNX Runtime), which "
            "`/classify-smart` sends small inputs to; likewise an id or a URL. Empty: none "
            "(`/classify-smart` uses the GPU, `route=cpu` is 503)."
        ),
    )
    # Layouts (docs/architecture.md#layouts); orchestrator/layouts.py builds each one's stages.
    layout: Layout = Field(
        default=Layout.SPLIT,
        description=(
            "`split`: the three stage endpoints. `inline`: preprocess and postprocess run in "
            "this process (`INLINE_THREADS`), only `INFERENCE_ENDPOINT` is called; "
            "`CPU_INFERENCE_ENDPOINT=inline` runs the CPU inference here too (ONNX Runtime). "
            "`single`: `SINGLE_ENDPOINT` runs all three stages in one job."
        ),
    )
    single_endpoint: str = Field(
        default="http://localhost:8005",
        description=(
            "`LAYOUT=single`: the all-stage endpoint (the `single` image); an id or a URL."
        ),
    )
    # Empty by default, unlike the others: it makes this process tokenize (see below).
    single_cpu_endpoint: str = Field(
        default="",
        description=(
            "`LAYOUT=single`: the all-stage endpoint on a CPU instance (the `single-cpu` image: "
            "ONNX Runtime), which `/classify-smart` sends short texts to, as "
            "`CPU_INFERENCE_ENDPOINT` in the split layout; an id or a URL. Set, the "
            "orchestrator counts each text's tokens itself, with `MODEL_ID`'s tokenizer (the "
            "`orchestrator-inline` image holds it). Empty: none (`/classify-smart` runs on "
            "`SINGLE_ENDPOINT`, `route=cpu` is 503)."
        ),
    )
    # After the endpoints, so its check can see them.
    runpod_api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description=(
            "Sent as `Authorization: Bearer …` to the hosted API. Never logged. Required when an "
            "endpoint is an id: the orchestrator will not start without it, naming the variable."
        ),
    )
    preprocess_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A stage's whole budget: queue, cold start, execution and polling.",
    )
    inference_timeout_s: float = Field(default=120.0, gt=0, description="Likewise.")
    postprocess_timeout_s: float = Field(default=30.0, gt=0, description="Likewise.")
    cpu_inference_timeout_s: float = Field(
        default=30.0, gt=0, description="Likewise, for the CPU inference endpoint."
    )
    single_timeout_s: float = Field(
        default=120.0, gt=0, description="Likewise, for the all-stage endpoint (`LAYOUT=single`)."
    )
    single_cpu_timeout_s: float = Field(
        default=30.0, gt=0, description="Likewise, for the all-stage CPU endpoint."
    )
    model_id: str | None = Field(
        default=None,
        description=(
            "`LAYOUT=inline`: the model whose tokenizer preprocess runs with here (and, with "
            "`CPU_INFERENCE_ENDPOINT=inline`, whose `model.onnx` runs here): the inference "
            "endpoint's. `LAYOUT=single` with `SINGLE_CPU_ENDPOINT`: the model whose tokenizer "
            "counts the tokens `/classify-smart` routes by: the all-stage endpoints'. Unset: "
            "the workers' default model."
        ),
    )
    model_revision: str | None = Field(
        default=None, description="Branch, tag or commit of MODEL_ID."
    )
    inline_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "`LAYOUT=inline` (and `LAYOUT=single`'s token counts, with `SINGLE_CPU_ENDPOINT`): "
            "threads that run the stages in this process, never on its event loop; jobs beyond "
            "them wait their turn."
        ),
    )
    smart_max_cpu_tokens: int = Field(
        default=DEFAULT_SMART_MAX_CPU_TOKENS,
        ge=0,
        description=(
            "`/classify-smart` (and `route=smart`): inputs of at most this many tokens, all "
            "windows of all texts, run on the CPU inference endpoint. The default is measured by "
            "`python -m benchmarks.backends` ([Measurements]"
            "(measurements.md#which-inference-endpoint-onnx-runtime-vs-torch-on-cpu-by-text-length))."
        ),
    )
    smart_fallback_max_tokens: int = Field(
        default=2048,
        ge=0,
        description=(
            "When the GPU endpoint cannot serve (unreachable, backlogged), inputs up to this many "
            "tokens run on the CPU endpoint instead of waiting; longer ones still go to the GPU."
        ),
    )
    smart_gpu_max_queue_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "A hosted GPU endpoint whose `/health` shows jobs queued and no ready worker for "
            "this long is backlogged (`0`: as soon as it is seen)."
        ),
    )
    smart_gpu_health_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How long one reading of the GPU endpoint's health serves all requests.",
    )
    smart_retry_timeout_on_cpu: bool = Field(
        default=False,
        description=(
            "Retry a timed-out GPU job on the CPU endpoint (within `SMART_FALLBACK_MAX_TOKENS`). "
            "Off: a long input that timed out on the GPU would be slow on the CPU too."
        ),
    )
    # Not the stage timeout: see orchestrator/job_ttl.py.
    job_ttl_s: float = Field(
        default=DEFAULT_JOB_TTL_S,
        ge=10,
        description="How long Runpod keeps a submitted job (its policy.ttl), queue and cold "
        "start included; never below the stage's timeout.",
    )
    poll_interval_s: float = Field(
        default=0.5,
        gt=0,
        description="How often a job that `/runsync` did not finish is polled.",
    )
    max_batch_texts: int = Field(
        default=Limits.DEFAULT_MAX_BATCH_TEXTS,
        ge=1,
        le=Limits.MAX_BATCH_TEXTS_CAP,
        description=(
            f"Texts in one `/classify-batch` request (at most {Limits.MAX_BATCH_TEXTS_CAP})."
        ),
    )
    max_request_bytes: int = Field(
        default=20_000_000,
        ge=1_000,
        description=(
            "Larger request bodies get 413: from `Content-Length` before they are read, or as "
            "soon as a chunked body passes it (the default is Runpod's own `/runsync` limit)."
        ),
    )
    max_connections: int = Field(
        default=100,
        ge=1,
        description="Size of the one connection pool shared by the endpoints.",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description=(
            "The hard ceiling on pipeline requests (every `POST`) served at once; admission "
            "keeps fewer in flight when latency says so (`ADMISSION`)."
        ),
    )
    admission: Literal["latency", "fixed"] = Field(
        default="latency",
        description=(
            "`latency`: admit as many pipeline requests as keep their round trip within "
            "`ADMISSION_LATENCY_TOLERANCE` times the unloaded one (at most `MAX_IN_FLIGHT`) "
            "and answer the rest 429 with `Retry-After: 1` at once. `fixed`: `MAX_IN_FLIGHT` "
            "alone. How: orchestrator/admission.py."
        ),
    )
    admission_latency_tolerance: float = Field(
        default=1.5,
        ge=1.0,
        description="The round trip admission holds to, as a multiple of the unloaded one.",
    )
    admission_probe_interval_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How often the unloaded round trip is measured again when no request ran alone "
            "lately (one request at a time for the ten requests that takes)."
        ),
    )
    drain_grace_s: float = Field(
        default=8.0,
        ge=0,
        description=(
            "On SIGTERM, how long requests in flight may take to finish (new ones get 503, "
            "`/ping` 503) before what is left is cancelled with its jobs. Under Docker's "
            "default stop timeout of 10 s."
        ),
    )
    coalesce_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1_000,
        description=(
            "How long a request that finds others in flight waits for more to share its jobs; "
            "`0` turns coalescing off."
        ),
    )
    coalesce_max_texts: int = Field(
        default=Limits.DEFAULT_MAX_BATCH_TEXTS,
        ge=1,
        le=Limits.MAX_ITEMS_PER_JOB,
        description="Texts in one shared run at most (a larger batch runs alone).",
    )
    preprocess_usd_per_s: float = Field(
        default=DEFAULT_CPU_USD_PER_S,
        ge=0,
        description=(
            "Price of one worker-second of the stage, for `cost` in every answer and the cost "
            "metrics. The defaults are the pattern's: set your own, Runpod's prices change."
        ),
    )
    inference_usd_per_s: float = Field(
        default=DEFAULT_GPU_USD_PER_S, ge=0, description="Likewise, of the GPU inference stage."
    )
    postprocess_usd_per_s: float = Field(
        default=DEFAULT_CPU_USD_PER_S, ge=0, description="Likewise, of the postprocess stage."
    )
    cpu_inference_usd_per_s: float = Field(
        default=DEFAULT_CPU_USD_PER_S, ge=0, description="Likewise, of the CPU inference endpoint."
    )
    host: str = Field(
        default="0.0.0.0",
        description="The address it listens on (`make run`: `127.0.0.1`).",
    )
    port: int = Field(
        default=8888,
        description="The port it listens on (`make run`: the orchestrator's port too).",
    )
    log_level: str = Field(default="info", description="The log level, of its logs and uvicorn's.")
    # Caller keys and their limits: orchestrator/caller_keys.py, access.py, key_limits.py.
    api_keys: SecretStr | None = Field(
        default=None,
        description="Keys callers must send as `Authorization: Bearer <key>`, or better their "
        "hashes (`sha256:<64 hex digits>`), separated by commas. None (and no API_KEYS_FILE): "
        "every route is open.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file of caller keys, one a line: a key or `sha256:<hash>`, then an "
        "optional name that logs show instead of the hash prefix. Added to API_KEYS.",
    )
    open_health_and_metrics: bool = Field(
        default=False,
        description="With caller keys: serve /health and /metrics without a key too "
        "(/ping never needs one).",
    )
    api_key_rate_per_s: float = Field(
        default=0.0,
        ge=0,
        description="Requests a second each caller key may make, on average (0: no limit); "
        "more are answered 429 with Retry-After.",
    )
    api_key_burst: int = Field(
        default=20,
        ge=1,
        description="Requests a caller key may make at once before API_KEY_RATE_PER_S applies.",
    )
    api_key_max_in_flight: int = Field(
        default=0,
        ge=0,
        description="Requests of one caller key served at once (0: no limit beyond "
        "MAX_IN_FLIGHT); more are answered 429 with Retry-After.",
    )

    @field_validator("runpod_api_key")
    @classmethod
    def _key_for_hosted_endpoints(
        cls, key: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        hosted = _hosted_endpoint_variables(info.data)
        if hosted and not (key and key.get_secret_value().strip()):
            verb = "names a hosted endpoint" if len(hosted) == 1 else "name hosted endpoints"
            raise ValueError(
                f"required, because {' and '.join(hosted)} {verb} (set it to your Runpod API key)"
            )
        return key

    @field_validator("api_keys")
    @classmethod
    def _valid_api_keys(cls, keys: SecretStr | None) -> SecretStr | None:
        configured_keys(keys.get_secret_value() if keys else None, None)
        return keys

    @field_validator("api_keys_file", mode="before")
    @classmethod
    def _empty_is_no_file(cls, path: Any) -> Any:
        return None if isinstance(path, str) and not path.strip() else path

    @field_validator("api_keys_file")
    @classmethod
    def _valid_api_keys_file(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        keys = info.data.get("api_keys")
        configured_keys(keys.get_secret_value() if keys else None, path)
        return path

    def caller_keys(self) -> CallerKeys:
        """The keys callers must present; empty when none are configured."""
        keys = self.api_keys.get_secret_value() if self.api_keys else None
        return configured_keys(keys, self.api_keys_file)

    def hosted_endpoint_variables(self) -> list[str]:
        """The *_ENDPOINT settings that name endpoints of Runpod's hosted API."""
        return _hosted_endpoint_variables(self.model_dump())

    def endpoint(self, endpoint: Endpoint) -> EndpointSettings:
        """One endpoint's settings."""
        url, timeout_s, usd_per_s = {
            Endpoint.PREPROCESS: (
                self.preprocess_endpoint,
                self.preprocess_timeout_s,
                self.preprocess_usd_per_s,
            ),
            Endpoint.INFERENCE: (
                self.inference_endpoint,
                self.inference_timeout_s,
                self.inference_usd_per_s,
            ),
            Endpoint.INFERENCE_CPU: (
                self.cpu_inference_endpoint,
                self.cpu_inference_timeout_s,
                self.cpu_inference_usd_per_s,
            ),
            Endpoint.POSTPROCESS: (
                self.postprocess_endpoint,
                self.postprocess_timeout_s,
                self.postprocess_usd_per_s,
            ),
        }[endpoint]
        return EndpointSettings(endpoint, url.strip(), timeout_s, usd_per_s, self.runpod_api_base)

    def prices(self) -> StagePrices:
        return StagePrices(**{e.value: self.endpoint(e).usd_per_s for e in Endpoint})


# The endpoints each layout calls, in the order the API key's error names hosted ones
# (LAYOUT=single calls SINGLE_ENDPOINT, and SINGLE_CPU_ENDPOINT when it is set).
LAYOUT_ENDPOINTS: dict[Layout, tuple[Endpoint, ...]] = {
    Layout.SPLIT: (
        Endpoint.PREPROCESS,
        Endpoint.INFERENCE,
        Endpoint.POSTPROCESS,
        Endpoint.INFERENCE_CPU,
    ),
    Layout.INLINE: (Endpoint.INFERENCE, Endpoint.INFERENCE_CPU),
    Layout.SINGLE: (),
}


def _hosted_endpoint_variables(values: Mapping[str, Any]) -> list[str]:
    """The *_ENDPOINT variables the layout calls that name hosted endpoints."""
    api_base = str(values.get("runpod_api_base", RUNPOD_API_BASE))
    layout = values.get("layout", Layout.SPLIT)
    named = {
        endpoint.variable: str(values.get(f"{endpoint.setting}_endpoint", "")).strip()
        for endpoint in LAYOUT_ENDPOINTS.get(layout, ())
    }
    if layout == Layout.SINGLE:
        named["SINGLE_ENDPOINT"] = str(values.get("single_endpoint", "")).strip()
        named["SINGLE_CPU_ENDPOINT"] = str(values.get("single_cpu_endpoint", "")).strip()
    return [
        variable
        for variable, url in named.items()
        if url and url != IN_PROCESS and is_hosted(url, api_base)
    ]
