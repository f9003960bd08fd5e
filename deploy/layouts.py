"""Which endpoints each layout deploys, and how the orchestrator is wired to them.

- split: preprocess, inference, postprocess and the orchestrator; smart adds inference_cpu.
- inline: inference and the orchestrator, which runs preprocess and postprocess itself (it
  tokenizes with the inference stage's MODEL_ID and MODEL_REVISION); smart runs the short
  texts' inference in the orchestrator's own process (CPU_INFERENCE_ENDPOINT=inline).
- single: one GPU endpoint running all three stages, and the orchestrator if the file lists
  it; smart adds single_cpu, the same handler on ONNX Runtime on a CPU instance (image
  single-cpu), where the orchestrator sends short texts: it counts their tokens with the
  single stage's MODEL_ID and MODEL_REVISION.

In inline, and in single with smart, the orchestrator's image "orchestrator" stands for
"orchestrator-inline" (docker/orchestrator-inline.Dockerfile), which holds the CPU stages'
code, tokenizers, ONNX Runtime and the model; the split orchestrator's image holds none of
them. The single_cpu stage's "single" stands for "single-cpu": the GPU build has no
model.onnx and no ONNX Runtime.

A stage the file lists but the layout does not use is not deployed (and what apply made of
it is deleted): the file may hold every layout's tables, so that switching is one line.
"""

from contracts import Endpoint
from deploy.config import STAGES, DeployConfig, DeployStage, Layout

# The orchestrator's settings that name the endpoints it calls, set by `deploy apply`.
WIRED_KEYS: dict[DeployStage, str] = {
    DeployStage(endpoint.value): endpoint.variable for endpoint in Endpoint
} | {DeployStage.SINGLE: "SINGLE_ENDPOINT", DeployStage.SINGLE_CPU: "SINGLE_CPU_ENDPOINT"}
LAYOUT_KEY = "LAYOUT"
MODEL_KEYS = ("MODEL_ID", "MODEL_REVISION")
# CPU_INFERENCE_ENDPOINT's value for inference in the orchestrator's own process.
IN_PROCESS = "inline"
# What the single_cpu stage's all-stage handler runs on (its image sets it too).
SINGLE_CPU_ENV = {"BACKEND": "onnx"}

_NEEDS: dict[Layout, tuple[DeployStage, ...]] = {
    Layout.SPLIT: (
        DeployStage.PREPROCESS,
        DeployStage.INFERENCE,
        DeployStage.POSTPROCESS,
        DeployStage.ORCHESTRATOR,
    ),
    Layout.INLINE: (DeployStage.INFERENCE, DeployStage.ORCHESTRATOR),
    Layout.SINGLE: (DeployStage.SINGLE,),
}
# The endpoint smart adds (inline's smart inference runs in the orchestrator).
_SMART_STAGE: dict[Layout, DeployStage | None] = {
    Layout.SPLIT: DeployStage.INFERENCE_CPU,
    Layout.INLINE: None,
    Layout.SINGLE: DeployStage.SINGLE_CPU,
}
# The stage whose model the orchestrator tokenizes with, by layout and smart, where it does
# (inline: preprocess; single with smart: the token count that picks the endpoint).
_TOKENIZES_FOR: dict[tuple[Layout, bool], DeployStage] = {
    (Layout.INLINE, False): DeployStage.INFERENCE,
    (Layout.INLINE, True): DeployStage.INFERENCE,
    (Layout.SINGLE, True): DeployStage.SINGLE,
}
# The image a stage's usual image name stands for where it must hold more: an orchestrator
# that tokenizes, and the all-stage CPU twin. A full reference, or any other name, is used
# as written.
_TOKENIZING_ORCHESTRATOR = {"orchestrator": "orchestrator-inline"}
_SINGLE_CPU_IMAGE = {"single": "single-cpu"}
# Deployed when the file lists it.
_OPTIONAL: dict[Layout, tuple[DeployStage, ...]] = {Layout.SINGLE: (DeployStage.ORCHESTRATOR,)}
# The endpoints the orchestrator calls in each layout.
_CALLED: dict[Layout, tuple[DeployStage, ...]] = {
    Layout.SPLIT: (
        DeployStage.PREPROCESS,
        DeployStage.INFERENCE,
        DeployStage.INFERENCE_CPU,
        DeployStage.POSTPROCESS,
    ),
    Layout.INLINE: (DeployStage.INFERENCE, DeployStage.INFERENCE_CPU),
    Layout.SINGLE: (DeployStage.SINGLE, DeployStage.SINGLE_CPU),
}


def needed_stages(config: DeployConfig) -> tuple[DeployStage, ...]:
    """The stages the layout cannot do without."""
    layout = config.deployment.layout
    smart = _SMART_STAGE[layout] if config.smart else None
    return tuple(s for s in STAGES if s in _NEEDS[layout] or s is smart)


def deployed_stages(config: DeployConfig) -> tuple[DeployStage, ...]:
    """The stages apply makes, in the order it makes them (the orchestrator last)."""
    needed = needed_stages(config)
    optional = _OPTIONAL.get(config.deployment.layout, ())
    return tuple(s for s in STAGES if s in needed or (s in optional and config.lists(s)))


def missing_stages(config: DeployConfig) -> tuple[DeployStage, ...]:
    return tuple(s for s in needed_stages(config) if not config.lists(s))


def unused_stages(config: DeployConfig) -> tuple[DeployStage, ...]:
    """Tables the file has that this layout does not deploy."""
    deployed = deployed_stages(config)
    return tuple(s for s in config.listed_stages if s not in deployed)


def describe_layout(config: DeployConfig) -> str:
    smart = " (smart)" if config.smart else ""
    names = ", ".join(config.endpoint_name(s) for s in deployed_stages(config))
    return f'Layout "{config.deployment.layout}"{smart}: {names}.'


def stage_image(config: DeployConfig, stage: DeployStage) -> str:
    """The image reference the stage's template runs in this layout."""
    names: dict[str, str] = {}
    if stage is DeployStage.SINGLE_CPU:
        names = _SINGLE_CPU_IMAGE
    elif stage is DeployStage.ORCHESTRATOR and tokenizing_model(config) is not None:
        names = _TOKENIZING_ORCHESTRATOR
    return config.image(stage, names.get(config.stage(stage).image))


def tokenizing_model(config: DeployConfig) -> DeployStage | None:
    """The stage whose model the orchestrator tokenizes with, if it tokenizes."""
    return _TOKENIZES_FOR.get((config.deployment.layout, config.smart))


def orchestrator_wiring(config: DeployConfig, endpoint_ids: dict[DeployStage, str]) -> dict:
    """The orchestrator's layout and the endpoints it calls: each deployed one's id, empty
    for one left out; where it tokenizes, the model it tokenizes with (_TOKENIZES_FOR)."""
    layout = config.deployment.layout
    deployed = deployed_stages(config)
    env = {LAYOUT_KEY: layout.value}
    for stage in _CALLED[layout]:
        env[WIRED_KEYS[stage]] = endpoint_ids[stage] if stage in deployed else ""
    if layout is Layout.INLINE and config.smart:
        env[WIRED_KEYS[DeployStage.INFERENCE_CPU]] = IN_PROCESS
    if (model_stage := tokenizing_model(config)) is not None:
        model = config.stage(model_stage).env
        env |= {key: model[key] for key in MODEL_KEYS if key in model}
    return env


def stage_defaults(stage: DeployStage) -> dict[str, str]:
    """Environment a stage's image needs to run as that stage, unless the file says."""
    return SINGLE_CPU_ENV if stage is DeployStage.SINGLE_CPU else {}
