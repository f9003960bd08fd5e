"""The architecture picture: each layout's endpoints and hops, drawn from a description.

    python -m scripts.draw_architecture                 # writes docs/architecture.png

LAYOUTS below is the description; the prices and the smart route's threshold on the boxes are
read from `contracts`, so the picture follows the code's defaults. The GPU-only layout is one
that `make cost` models; it is drawn apart, marked as not deployable.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: write files only

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from contracts import DEFAULT_CPU_USD_PER_S, DEFAULT_GPU_USD_PER_S, DEFAULT_SMART_MAX_CPU_TOKENS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "docs" / "architecture.png"
COLOURS = {"cpu": "#dbe9f6", "gpu": "#d8f0d2", "host": "#eeeeee", "modelled": "#f6e7d2"}
EDGES = {"cpu": "#2f6fa8", "gpu": "#3b8a2e", "host": "#666666", "modelled": "#a8742f"}


@dataclass(frozen=True)
class Box:
    """One endpoint (or the caller, or the orchestrator) in a layout."""

    title: str
    detail: str
    kind: str  # cpu, gpu, host, modelled


@dataclass(frozen=True)
class Layout:
    name: str
    route: str
    # Steps left to right; a step with two boxes is a choice made per request.
    steps: list[list[Box]]
    # What travels between step i and step i+1 (one label per gap).
    carries: list[str]
    note: str


def price(usd_per_s: float) -> str:
    return f"${usd_per_s:g}/s"


CLIENT = Box("caller", "HTTP, JSON", "host")
ORCHESTRATOR = Box(
    "orchestrator", "FastAPI, CPU\ncalls each endpoint\nin turn (Runpod API)", "host"
)
PREPROCESS = Box(
    "preprocess", f"CPU endpoint, {price(DEFAULT_CPU_USD_PER_S)}\nclean, tokenize,\nwindows", "cpu"
)
GPU_INFERENCE = Box(
    "inference", f"GPU endpoint, {price(DEFAULT_GPU_USD_PER_S)}\ntorch, batched\nacross jobs", "gpu"
)
POSTPROCESS = Box(
    "postprocess",
    f"CPU endpoint, {price(DEFAULT_CPU_USD_PER_S)}\ntoken-weighted mean,\nformat",
    "cpu",
)

LAYOUTS = [
    Layout(
        name="split",
        route="POST /classify, /classify-batch",
        steps=[[CLIENT], [ORCHESTRATOR], [PREPROCESS], [GPU_INFERENCE], [POSTPROCESS]],
        carries=["text", "job", "token windows", "window\nprobabilities"],
        note="three Runpod jobs in sequence, one per stage; concurrent requests share them",
    ),
    Layout(
        name="smart",
        route="POST /classify-smart",
        steps=[
            [CLIENT],
            [ORCHESTRATOR],
            [PREPROCESS],
            [
                Box(
                    "inference-cpu",
                    f"CPU endpoint, {price(DEFAULT_CPU_USD_PER_S)}\nONNX Runtime\n"
                    f"<= {DEFAULT_SMART_MAX_CPU_TOKENS} tokens",
                    "cpu",
                ),
                Box(
                    "inference",
                    f"GPU endpoint, {price(DEFAULT_GPU_USD_PER_S)}\nlonger texts,\nand fallbacks",
                    "gpu",
                ),
            ],
            [POSTPROCESS],
        ],
        carries=["text", "job", "token windows", "window\nprobabilities"],
        note="the same model on either inference endpoint; the GPU stays at zero workers "
        "while traffic is short",
    ),
    Layout(
        name="inline",
        route="LAYOUT=inline: the same routes",
        steps=[
            [CLIENT],
            [
                Box(
                    "orchestrator",
                    f"CPU, {price(DEFAULT_CPU_USD_PER_S)}\n"
                    "preprocess, postprocess\n(and short texts)",
                    "host",
                )
            ],
            [GPU_INFERENCE],
        ],
        carries=["text", "token windows"],
        note="the CPU stages run in the orchestrator's own process: one Runpod job per request",
    ),
    Layout(
        name="single",
        route="LAYOUT=single, or /runsync with no orchestrator",
        steps=[
            [CLIENT],
            [Box("orchestrator", "FastAPI, CPU\noptional; smart:\ncounts tokens", "host")],
            [
                Box(
                    "single-cpu",
                    f"CPU endpoint, {price(DEFAULT_CPU_USD_PER_S)}\nsmart: ONNX Runtime\n"
                    f"<= {DEFAULT_SMART_MAX_CPU_TOKENS} tokens",
                    "cpu",
                ),
                Box(
                    "single",
                    f"GPU endpoint, {price(DEFAULT_GPU_USD_PER_S)}\nall three stages\nin one job",
                    "gpu",
                ),
            ],
        ],
        carries=["text", "job"],
        note="one endpoint per request, one job; its CPU stages billed at the price of the "
        "hardware it ran on",
    ),
]

BOX_W, BOX_H, GAP_X, STACK_GAP = 2.3, 1.25, 0.9, 0.2


def row_height(layout: Layout) -> float:
    """Title and route, the tallest step, and the note beneath."""
    tallest = max(len(step) for step in layout.steps)
    return 1.0 + tallest * BOX_H + (tallest - 1) * STACK_GAP + 0.75


def draw(layouts: list[Layout], out: Path) -> Path:
    columns = max(len(layout.steps) for layout in layouts)
    width = columns * BOX_W + (columns - 1) * GAP_X + 0.4
    height = sum(row_height(layout) for layout in layouts)
    figure, axes = plt.subplots(figsize=(width * 0.95, height * 0.95), dpi=110)
    axes.set_xlim(-0.2, width - 0.2)
    axes.set_ylim(0, height)
    axes.axis("off")
    top = height
    for layout in layouts:
        bottom = top - row_height(layout)
        axes.text(0, top - 0.15, layout.name, fontsize=13, fontweight="bold", va="top")
        axes.text(
            0, top - 0.52, layout.route, fontsize=9, va="top", color="#444444", style="italic"
        )
        centre_y = (top - 1.0 + bottom + 0.75) / 2
        anchors: list[list[tuple[float, float]]] = []
        for column, step in enumerate(layout.steps):
            x = column * (BOX_W + GAP_X)
            anchors.append([])
            for box, offset in zip(step, _stack_offsets(len(step)), strict=True):
                _box(axes, box, x, centre_y + offset)
                anchors[-1].append((x, centre_y + offset))
        for column, label in enumerate(layout.carries):
            for x0, y0 in anchors[column]:
                for x1, y1 in anchors[column + 1]:
                    _arrow(axes, (x0 + BOX_W, y0), (x1, y1))
            x_mid = column * (BOX_W + GAP_X) + BOX_W + GAP_X / 2
            above = max(y for _, y in anchors[column] + anchors[column + 1])
            axes.text(x_mid, above + 0.1, label, fontsize=7, ha="center", va="bottom")
        axes.text(0, bottom + 0.3, layout.note, fontsize=8.5, color="#333333")
        top = bottom
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def _stack_offsets(count: int) -> list[float]:
    """Vertical offsets of the boxes of one step: a choice stacks them, top to bottom."""
    pitch = BOX_H + STACK_GAP
    return [pitch * (count - 1) / 2 - pitch * i for i in range(count)]


def _box(axes, box: Box, x: float, y: float) -> None:
    axes.add_patch(
        FancyBboxPatch(
            (x, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=COLOURS[box.kind],
            edgecolor=EDGES[box.kind],
            linewidth=1.4,
        )
    )
    top = y + BOX_H / 2
    axes.text(x + BOX_W / 2, top - 0.1, box.title, ha="center", va="top", fontweight="bold")
    axes.text(x + BOX_W / 2, top - 0.4, box.detail, ha="center", va="top", fontsize=7.5)


def _arrow(axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    axes.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#555555", lw=1.1)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    out = draw(LAYOUTS, args.out)
    print(f"wrote {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
