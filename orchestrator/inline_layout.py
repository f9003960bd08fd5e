"""LAYOUT=inline: preprocess and postprocess in the orchestrator's own process (and
LAYOUT=single's smart variant: preprocess alone, to count tokens).

Only the inference stage is an endpoint: one hop per request, no CPU stage endpoint to pay
for. The stages are the workers' own functions (preprocess_worker.stage,
postprocess_worker.stage) in the workers' own job wrapper, run on a bounded thread pool
(INLINE_THREADS). With CPU_INFERENCE_ENDPOINT=inline the CPU inference runs here too: the
inference worker's handler on ONNX Runtime (inference_worker.onnx_backend), which loads
neither torch nor transformers.

This module and the worker modules are imported only in this layout (orchestrator.wiring
imports it lazily): the orchestrator of the split layout loads no worker code at all.
"""

import logging
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from contracts import Endpoint, Stage
from contracts.layouts import IN_PROCESS
from orchestrator.in_process import CpuRecorder, InProcessStage, pooled
from orchestrator.settings import OrchestratorSettings

log = logging.getLogger("orchestrator")


def model_settings(settings: OrchestratorSettings) -> dict[str, Any]:
    """MODEL_ID and MODEL_REVISION as the workers' settings take them, when set."""
    fields = {"model_id": settings.model_id, "model_revision": settings.model_revision}
    return {name: value for name, value in fields.items() if value is not None}


def cpu_stages(
    preprocess_settings: Any, pool: Executor, on_cpu: CpuRecorder | None = None
) -> dict[Stage, InProcessStage]:
    """Preprocess (with the model's tokenizer) and postprocess, run on `pool`; `on_cpu` is
    told each call's CPU time."""
    from postprocess_worker.stage import postprocess
    from preprocess_worker.handler import load_tokenizer
    from preprocess_worker.stage import preprocess

    tokenizer = load_tokenizer(preprocess_settings)
    return {
        Stage.PREPROCESS: InProcessStage(
            Stage.PREPROCESS,
            pooled(Stage.PREPROCESS, partial(preprocess, tokenizer=tokenizer), pool, on_cpu),
        ),
        Stage.POSTPROCESS: InProcessStage(
            Stage.POSTPROCESS, pooled(Stage.POSTPROCESS, postprocess, pool, on_cpu)
        ),
    }


def inference_stage(inference_settings: Any, name: str) -> InProcessStage:
    """The inference worker's own handler (its batcher, its threads) around the model of
    `inference_settings` (BACKEND picks torch or ONNX Runtime)."""
    from inference_worker.handler import load_classifier, make_handler

    classifier = load_classifier(inference_settings)
    return InProcessStage(Stage.INFERENCE, make_handler(classifier, inference_settings), name=name)


@contextmanager
def _loading_model(what: str) -> Iterator[None]:
    """One line that says what to fix, before the server's own account of the failure."""
    from worker_runtime.model_files import ModelUnavailableError

    try:
        yield
    except ModelUnavailableError as exc:
        log.error("%s cannot start: MODEL_ID: %s", what, exc)
        raise


@contextmanager
def inline_stages(
    settings: OrchestratorSettings, on_cpu: CpuRecorder | None = None
) -> Iterator[dict[Endpoint, InProcessStage]]:
    """The stages this process runs, by the endpoint each stands in for; the thread pool
    lives as long as the context. `on_cpu` is told the CPU time of each preprocess and
    postprocess call (not the in-process CPU inference's, which runs on the inference
    worker's own threads and ONNX Runtime's)."""
    from preprocess_worker.settings import PreprocessSettings

    model = model_settings(settings)
    with ThreadPoolExecutor(settings.inline_threads, thread_name_prefix="inline-stage") as pool:
        with _loading_model("LAYOUT=inline"):
            stages = cpu_stages(PreprocessSettings(**model), pool, on_cpu)
            endpoints = {
                Endpoint.PREPROCESS: stages[Stage.PREPROCESS],
                Endpoint.POSTPROCESS: stages[Stage.POSTPROCESS],
            }
            if settings.cpu_inference_endpoint.strip() == IN_PROCESS:
                from inference_worker.settings import InferenceSettings

                endpoints[Endpoint.INFERENCE_CPU] = inference_stage(
                    InferenceSettings(**model, backend="onnx"), Endpoint.INFERENCE_CPU.value
                )
        yield endpoints


@contextmanager
def tokens_here(
    settings: OrchestratorSettings, on_cpu: CpuRecorder | None = None
) -> Iterator[InProcessStage]:
    """LAYOUT=single with SINGLE_CPU_ENDPOINT: the preprocess stage, run here to count the
    tokens `/classify-smart` routes by (the all-stage job preprocesses again); `on_cpu` is
    told each call's CPU time."""
    with ThreadPoolExecutor(settings.inline_threads, thread_name_prefix="token-count") as pool:
        try:
            from preprocess_worker.settings import PreprocessSettings

            with _loading_model("SINGLE_CPU_ENDPOINT"):
                stages = cpu_stages(PreprocessSettings(**model_settings(settings)), pool, on_cpu)
        except ModuleNotFoundError as exc:
            # The split orchestrator's image holds no worker code and no tokenizers.
            log.error(
                "SINGLE_CPU_ENDPOINT: counting tokens here needs the orchestrator-inline image "
                "(the preprocess code, tokenizers, the model's tokenizer); %s. Or leave "
                "SINGLE_CPU_ENDPOINT empty.",
                exc,
            )
            raise
        yield stages[Stage.PREPROCESS]
