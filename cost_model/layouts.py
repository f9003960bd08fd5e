"""The layouts compared: which endpoints a request visits, and what each job runs on them.

Three layouts, each with or without the smart route (short texts to CPU inference, on ONNX
Runtime). Their names are deploy.toml's: `layout = "split" | "inline" | "single"`, and
`smart = true` for the smart variant, named `<layout>-smart` here.

- `split`: three stage endpoints in sequence: preprocess (CPU), inference (GPU), postprocess
  (CPU). Three jobs, three queue hops.
- `inline`: the orchestrator runs preprocess and postprocess in its own process; only
  inference goes to Runpod: one hop. The CPU stages' time is the measured stage time, on the
  orchestrator's CPU, where it takes its turn with the other requests' CPU work.
- `single`: one GPU endpoint whose job runs all three stages: one hop. Its CPU phases take
  turns on the worker like the CPU workers' do, its GPU phase is batched like the inference
  worker's, and it bills at the GPU price.
- `split-smart`: four endpoints: preprocess, then the CPU inference endpoint for a request of
  at most `max_cpu_tokens` tokens (contracts.routing.smart_target) or the GPU one for a
  longer one, then postprocess.
- `inline-smart`: the orchestrator runs the CPU inference of a short request in its own
  process too, so a short request makes no hop at all, and traffic made only of short texts
  runs on the orchestrator's worker alone and never starts a GPU.
- `single-smart`: a short request goes to `single_cpu`, the all-stage handler on a CPU
  instance, a long one to `single`. The orchestrator counts the tokens to choose, which
  costs it a tokenization: the measured preprocess time.

Every layout runs behind the orchestrator's worker (endpoint 0), which spends
`orchestrator_hop_s` of CPU on each call it makes, and holds the request until it answers.
A smart layout's CPU inference time is the measured ONNX Runtime time for the request's
tokens (cpu_inference_times.py); the GPU's is the measured inference stage time, which carries
no token count. An endpoint no request reaches never starts a worker and bills nothing.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from contracts import Endpoint
from contracts.routing import InferenceTarget, smart_target
from cost_model.cpu_inference_times import CpuInferenceTimes
from cost_model.endpoints import ORCHESTRATOR, SINGLE, SINGLE_CPU
from cost_model.simulator import CALL, CPU, GPU, EndpointConfig, Hop, Phase
from cost_model.stage_times import StageSample

BASES = ("split", "inline", "single")
SMART_SUFFIX = "-smart"


@dataclass(frozen=True)
class SmartRouting:
    """What a smart layout routes by: the threshold, and the CPU inference time by tokens."""

    max_cpu_tokens: int
    cpu_inference: CpuInferenceTimes

    def short(self, tokens: int) -> bool:
        return smart_target(tokens, self.max_cpu_tokens) is InferenceTarget.CPU


@dataclass(frozen=True)
class LayoutInputs:
    configs: Mapping[str, EndpointConfig]
    routing: SmartRouting
    # CPU seconds the orchestrator spends on each call it makes to an endpoint.
    orchestrator_hop_s: float = 0.0
    # True: an inline orchestrator loads what the workers it replaces load (the tokenizer,
    # and the ONNX model when smart), so its cold start is taken as the slowest of theirs
    # and its own. False when the orchestrator's cold start is given, or it runs elsewhere.
    inline_loads_workers: bool = True


@dataclass(frozen=True)
class Layout:
    name: str
    base: str  # split, inline or single: deploy.toml's `layout`
    smart: bool  # deploy.toml's `smart`
    endpoints: tuple[EndpointConfig, ...]
    # A request's hops, from its measured stage times and its tokens.
    route: Callable[[StageSample, int], list[Hop]]

    @property
    def deploy_lines(self) -> str:
        """What to set in deploy.toml's [deployment] table to deploy this layout."""
        return f'layout = "{self.base}"\nsmart = {"true" if self.smart else "false"}'


def layout_name(base: str, smart: bool) -> str:
    return base + SMART_SUFFIX * smart


LAYOUT_NAMES = tuple(layout_name(base, smart) for smart in (False, True) for base in BASES)


def cpu(seconds: float) -> tuple[Phase, ...]:
    """A CPU phase, or none for no work (an event saved)."""
    return ((CPU, seconds),) if seconds > 0 else ()


def call(endpoint: int, *phases: Phase) -> Phase:
    return (CALL, (endpoint, phases))


def orchestrated(*phases: Phase) -> list[Hop]:
    """A request: one job on the orchestrator (endpoint 0), whose phases are its own CPU work
    and its calls (a job needs one phase, if only of no time)."""
    return [(0, phases or ((CPU, 0.0),))]


def build(name: str, inputs: LayoutInputs) -> Layout:
    base = name.removesuffix(SMART_SUFFIX)
    smart = name.endswith(SMART_SUFFIX)
    if base not in BASES:
        raise ValueError(f"unknown layout {name!r} (one of {', '.join(LAYOUT_NAMES)})")
    endpoints, route = BUILDERS[base](inputs, smart)
    return Layout(name, base, smart, endpoints, route)


def _split(inputs: LayoutInputs, smart: bool):
    configs, routing, hop_s = inputs.configs, inputs.routing, inputs.orchestrator_hop_s
    names = [ORCHESTRATOR, Endpoint.PREPROCESS, Endpoint.INFERENCE, Endpoint.POSTPROCESS]
    if smart:
        names.insert(2, Endpoint.INFERENCE_CPU)
    index = {name: i for i, name in enumerate(names)}

    def route(sample: StageSample, tokens: int) -> list[Hop]:
        if smart and routing.short(tokens):
            seconds = routing.cpu_inference.seconds(tokens)
            inference = call(index[Endpoint.INFERENCE_CPU], (CPU, seconds))
        else:
            inference = call(index[Endpoint.INFERENCE], (GPU, sample.inference_s))
        return orchestrated(
            *cpu(3 * hop_s),
            call(index[Endpoint.PREPROCESS], (CPU, sample.preprocess_s)),
            inference,
            call(index[Endpoint.POSTPROCESS], (CPU, sample.postprocess_s)),
        )

    return tuple(configs[name] for name in names), route


def _orchestrator_loading(inputs: LayoutInputs, loads: list[str]):
    """The orchestrator's worker, whose cold start also loads what the workers in `loads`
    load (when inline_loads_workers): the slowest of theirs and its own."""
    orchestrator = inputs.configs[ORCHESTRATOR]
    if not inputs.inline_loads_workers or not loads:
        return orchestrator
    slowest = max(inputs.configs[name].cold_start_s for name in [ORCHESTRATOR, *loads])
    return replace(orchestrator, cold_start_s=slowest)


def _inline(inputs: LayoutInputs, smart: bool):
    configs, routing, hop_s = inputs.configs, inputs.routing, inputs.orchestrator_hop_s
    loads = [Endpoint.PREPROCESS, Endpoint.INFERENCE_CPU] if smart else [Endpoint.PREPROCESS]
    orchestrator = _orchestrator_loading(inputs, loads)

    def route(sample: StageSample, tokens: int) -> list[Hop]:
        if smart and routing.short(tokens):
            in_process = routing.cpu_inference.seconds(tokens)
            return orchestrated(*cpu(sample.preprocess_s + in_process + sample.postprocess_s))
        return orchestrated(
            *cpu(sample.preprocess_s + hop_s),
            call(1, (GPU, sample.inference_s)),
            *cpu(sample.postprocess_s),
        )

    return (orchestrator, configs[Endpoint.INFERENCE]), route


def _single(inputs: LayoutInputs, smart: bool):
    configs, routing, hop_s = inputs.configs, inputs.routing, inputs.orchestrator_hop_s
    # With smart, the orchestrator loads the tokenizer to count a request's tokens.
    orchestrator = _orchestrator_loading(inputs, [Endpoint.PREPROCESS] if smart else [])
    workers = [configs[SINGLE], configs[SINGLE_CPU]] if smart else [configs[SINGLE]]

    def route(sample: StageSample, tokens: int) -> list[Hop]:
        pre, post = sample.preprocess_s, sample.postprocess_s
        if not smart:
            return orchestrated(
                *cpu(hop_s), call(1, (CPU, pre), (GPU, sample.inference_s), (CPU, post))
            )
        # The orchestrator tokenizes to choose the endpoint; the endpoint tokenizes again.
        if routing.short(tokens):
            chosen = call(2, (CPU, pre + routing.cpu_inference.seconds(tokens) + post))
        else:
            chosen = call(1, (CPU, pre), (GPU, sample.inference_s), (CPU, post))
        return orchestrated(*cpu(pre + hop_s), chosen)

    return (orchestrator, *workers), route


BUILDERS = {"split": _split, "inline": _inline, "single": _single}
