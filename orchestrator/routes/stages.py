"""The stage routes: one stage alone, on its endpoint, answered with its timings and cost."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from contracts import (
    InferenceOutput,
    InferenceResponse,
    InferenceSingleOutput,
    InferenceSingleResponse,
    InferenceTarget,
    PostprocessOutput,
    PostprocessResponse,
    PostprocessSingleResponse,
    PreprocessInput,
    PreprocessOutput,
    PreprocessResponse,
    Stage,
    Timings,
)
from contracts.layouts import Layout
from contracts.postprocess import PostprocessSingleOutput
from orchestrator.edge import StageCall, inference_call, postprocess_call
from orchestrator.errors import NotInLayoutError
from orchestrator.routes.answers import STAGE_ERRORS, timed_answer
from orchestrator.stage_output import parse_output
from orchestrator.wiring import Services, services

Served = Annotated[Services, Depends(services)]


def in_layout(request: Request, served: Served) -> None:
    """LAYOUT=single runs no stage on its own: its stage routes answer 404."""
    if served.settings.layout is Layout.SINGLE:
        raise NotInLayoutError(request.url.path, served.settings.layout.value)


# Checked before the body is read: a route that is not there has no body to validate.
router = APIRouter(tags=["stages"], dependencies=[Depends(in_layout)])

# What each stage route's answer must be, checked before it is passed on.
_STAGE_OUTPUTS: dict[Stage, Any] = {
    Stage.PREPROCESS: PreprocessOutput,
    Stage.INFERENCE: InferenceOutput | InferenceSingleOutput,
    Stage.POSTPROCESS: PostprocessOutput | PostprocessSingleOutput,
}


async def _forward(
    request: Request,
    served: Services,
    stage: Stage,
    job_input: dict[str, Any],
    on: InferenceTarget = InferenceTarget.GPU,
) -> JSONResponse:
    started = time.perf_counter()
    request_id = request.state.request_id
    pipeline = served.pipeline
    endpoint = pipeline.router.endpoint(on) if stage is Stage.INFERENCE else None
    output, timing = await pipeline.run_stage(stage, job_input, [request_id], endpoint)
    parse_output(stage, _STAGE_OUTPUTS[stage], output)
    timings = Timings(
        **{stage.value: timing}, total_ms=round((time.perf_counter() - started) * 1000, 3)
    )
    # The stage's fields at the top level, as /classify answers and the pattern's routes do.
    answer = {
        **output,
        "request_id": request_id,
        "timings": timings.model_dump(mode="json"),
        "cost": served.charge(timings, inference_on=on).model_dump(mode="json"),
    }
    return timed_answer(answer, timings)


@router.post(
    "/cpu/preprocess",
    response_model=PreprocessResponse,
    responses=STAGE_ERRORS,
    summary="Run the preprocess stage alone",
)
async def cpu_preprocess(body: PreprocessInput, request: Request, served: Served) -> JSONResponse:
    return await _forward(request, served, Stage.PREPROCESS, body.model_dump(mode="json"))


@router.post(
    "/gpu/inference",
    response_model=InferenceSingleResponse | InferenceResponse,
    responses=STAGE_ERRORS,
    summary="Run the inference stage alone",
)
async def gpu_inference(
    call: Annotated[StageCall, Depends(inference_call)], request: Request, served: Served
) -> JSONResponse:
    return await _forward(request, served, Stage.INFERENCE, call.job_input)


@router.post(
    "/cpu/inference",
    response_model=InferenceSingleResponse | InferenceResponse,
    responses=STAGE_ERRORS,
    summary="Run the inference stage alone on the CPU inference endpoint (ONNX Runtime)",
)
async def cpu_inference(
    call: Annotated[StageCall, Depends(inference_call)], request: Request, served: Served
) -> JSONResponse:
    served.require_cpu_inference()
    return await _forward(request, served, Stage.INFERENCE, call.job_input, InferenceTarget.CPU)


@router.post(
    "/cpu/postprocess",
    response_model=PostprocessSingleResponse | PostprocessResponse,
    responses=STAGE_ERRORS,
    summary="Run the postprocess stage alone",
)
async def cpu_postprocess(
    call: Annotated[StageCall, Depends(postprocess_call)], request: Request, served: Served
) -> JSONResponse:
    return await _forward(request, served, Stage.POSTPROCESS, call.job_input)
