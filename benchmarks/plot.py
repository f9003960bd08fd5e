"""Throughput against concurrency: the pipeline, the naive pipeline and the limit, as a PNG."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: write files only

import matplotlib.pyplot as plt


def plot_throughput(
    concurrencies: list[int],
    pipeline_per_s: list[float],
    naive_per_s: float,
    limit_per_s: float,
    title: str,
    out: Path,
    layouts_per_s: dict[str, float] | None = None,
    layouts_concurrency: int = 16,
) -> Path:
    """One line for the pipeline at each concurrency; the naive pipeline (one text at a time)
    and the batched-forward limit do not depend on it, so they are flat lines. The layouts,
    when given, are points at the one concurrency they were measured at."""
    layouts_per_s = layouts_per_s or {}
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    axes.plot(
        concurrencies,
        pipeline_per_s,
        marker="o",
        label="pipeline (POST /classify, admission by latency)" if layouts_per_s else "pipeline",
    )
    for (layout, per_s), marker in zip(layouts_per_s.items(), "s^D", strict=False):
        axes.scatter(
            [layouts_concurrency], [per_s], marker=marker, label=f"{layout}, ADMISSION=fixed"
        )
    axes.axhline(limit_per_s, color="tab:green", linestyle="--", label="limit: batched forward")
    axes.axhline(naive_per_s, color="tab:red", linestyle=":", label="naive transformers.pipeline")
    axes.set_xscale("log", base=2)
    axes.set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes.set_xlabel("concurrent requests")
    axes.set_ylabel("texts per second")
    highest = max([*pipeline_per_s, *layouts_per_s.values(), naive_per_s, limit_per_s])
    axes.set_ylim(bottom=0, top=highest * 1.15)
    axes.set_title(title, fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out
