"""What `make cost` prints and draws: the inputs, a Markdown table, the break-even, a PNG."""

from collections.abc import Sequence
from pathlib import Path

from cost_model.layouts import EndpointSettings
from cost_model.simulator import SimResult
from cost_model.stage_times import STAGES, MeasuredTimes
from cost_model.sweep import Crossing, RatePoint, SweepSettings, relative_difference
from cost_model.traffic import PERIOD_S


def format_rate(rate: float) -> str:
    """Requests per second, as a person says it: 1/h, 6/min, 0.5/s, 100/s."""
    if rate * 60 < 1:
        return f"{rate * 3600:.3g}/h"
    if rate < 0.1:
        return f"{rate * 60:.3g}/min"
    return f"{rate:.3g}/s"


def format_seconds(seconds: float) -> str:
    if seconds != seconds:  # NaN: no request measured
        return "-"
    if seconds < 10:
        return f"{seconds:.3f} s"
    return f"{seconds:,.1f} s"


def format_usd(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 10 else f"${usd:,.2f}"


def describe_inputs(
    measured: MeasuredTimes,
    endpoints: EndpointSettings,
    sweep: SweepSettings,
    layouts: Sequence[str],
) -> str:
    fields = " and ".join(sorted(measured.fields_used))
    means = ", ".join(f"{stage} {measured.mean_s(stage) * 1000:.1f} ms" for stage in STAGES)
    lines = [
        "Inputs:",
        f"- stage times: {measured.source}, {len(measured.samples)} requests ({fields}); "
        f"{measured.describe_machine()}",
        f"- mean per request: {means}",
    ]
    for config in endpoints.configs().values():
        lines.append(
            f"- {config.name}: ${config.price_usd_per_s:g}/s, cold start "
            f"{config.cold_start_s:.1f} s, idle timeout {config.idle_timeout_s:g} s, workers "
            f"{config.workers_min}-{config.workers_max}, {config.concurrency} jobs per worker, "
            f"CPU work {config.cpu_lanes} at a time"
        )
    scaler = (
        f"queue delay {endpoints.scaler_value:g} s"
        if endpoints.scaler == "queue_delay"
        else f"request count {endpoints.scaler_value:g}"
    )
    discount = f", active workers {endpoints.active_discount:.0%} off" * bool(
        endpoints.active_discount
    )
    lines.append(
        f"- scaler: {scaler}{discount}; dispatch: {endpoints.dispatch}; "
        f"queue hop {sweep.hop_s * 1000:g} ms; layouts: {', '.join(layouts)}"
    )
    span = (
        f"whole days of at least {sweep.requests:,} requests"
        if sweep.profile in PERIOD_S
        else f"about {sweep.requests:,} requests"
    )
    lines.append(
        f"- traffic: {sweep.profile}; measured: {span} per rate, after {sweep.warmup_s:g} s "
        f"of traffic ramping up to the rate; seed {sweep.seed}"
    )
    return "\n".join(lines)


def _worker_seconds(result: SimResult) -> str:
    parts = []
    for usage in result.endpoints:
        per_1000 = (usage.billed_s + usage.active_s) / result.requests * 1000
        parts.append(f"{usage.name} {per_1000:,.0f}")
    return ", ".join(parts)


def table(points: Sequence[RatePoint], layouts: Sequence[str]) -> str:
    rows = [
        "| rate | layout | USD per 1,000 requests | p50 latency | p95 latency "
        "| billed worker-seconds per 1,000 requests |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for point in points:
        if point.skipped:
            rows.append(f"| {format_rate(point.rate)} | (skipped: {point.skipped}) | | | | |")
            continue
        for i, name in enumerate(layouts):
            result = point.results[name]
            rows.append(
                f"| {format_rate(point.rate) if i == 0 else ''} | {name} "
                f"| {format_usd(result.cost_per_1000_usd)} "
                f"| {format_seconds(result.latency_percentile_s(0.5))} "
                f"| {format_seconds(result.latency_percentile_s(0.95))} "
                f"| {_worker_seconds(result)} |"
            )
    return "\n".join(rows)


def verdict(points: Sequence[RatePoint], found: Sequence[Crossing]) -> str:
    """One plain sentence on when the split pays, from the split and GPU-only figures."""
    usable = [p for p in points if "split" in p.results and "gpu-only" in p.results]
    if not usable:
        return "No rate was simulated for both the split and the GPU-only layout."
    savings = [(-relative_difference(p, "split", "gpu-only"), p.rate) for p in usable]
    if not found:
        best, at = max(savings)
        if best > 0:
            return (
                f"The split is cheaper at every simulated rate, saving {min(savings)[0]:.0%} to "
                f"{best:.0%} over the GPU-only layout (most at {format_rate(at)})."
            )
        return (
            "The GPU-only layout is cheaper at every simulated rate: the split does not pay "
            f"for this traffic (it costs {-best:.0%} to {-min(savings)[0]:.0%} more)."
        )
    first = found[0]
    if len(found) == 1 and first.cheaper_above == "split":
        above = [(s, r) for s, r in savings if r > first.rate]
        best, at = max(above)
        return (
            f"Below {first.rate:.2g} requests per second ({format_rate(first.rate)}) the "
            f"GPU-only layout is cheaper; above it the split saves up to {best:.0%} "
            f"(at {format_rate(at)})."
        )
    swaps = "; ".join(
        f"at {format_rate(c.rate)} the {c.cheaper_above} layout becomes cheaper" for c in found
    )
    return f"The cheaper layout changes more than once: {swaps}."


def plot(
    points: Sequence[RatePoint],
    layouts: Sequence[str],
    found: Sequence[Crossing],
    path: Path,
    title: str,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [p for p in points if not p.skipped]
    figure, (cost_axes, latency_axes) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name in layouts:
        rates = [p.rate for p in usable]
        cost_axes.plot(
            rates, [p.results[name].cost_per_1000_usd for p in usable], marker="o", label=name
        )
        latency_axes.plot(
            rates,
            [p.results[name].latency_percentile_s(0.95) for p in usable],
            marker="o",
            label=name,
        )
    for axes, ylabel in (
        (cost_axes, "USD per 1,000 requests"),
        (latency_axes, "p95 latency (s), queueing and cold starts included"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("traffic (requests per second)")
        axes.set_ylabel(ylabel)
        axes.grid(True, which="both", alpha=0.3)
        for crossing in found:
            axes.axvline(crossing.rate, color="grey", linestyle="--")
        axes.legend()
    for crossing in found:
        cost_axes.annotate(
            f"break-even {format_rate(crossing.rate)}",
            xy=(crossing.rate, 0.97),
            xycoords=("data", "axes fraction"),
            rotation=90,
            ha="right",
            va="top",
            fontsize=8,
        )
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
