"""What `make cost` prints and draws: the inputs, a Markdown table, the break-even, a PNG."""

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

from cost_model.layouts import EndpointSettings, SmartRouting
from cost_model.simulator import SimResult
from cost_model.stage_times import STAGES, MeasuredTimes
from cost_model.sweep import (
    Crossing,
    RatePoint,
    ShareRow,
    SweepSettings,
    comparable,
    relative_difference,
)
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
    routing: SmartRouting | None = None,
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
    if routing is not None and "smart" in layouts:
        lines += describe_smart(routing, sweep)
    return "\n".join(lines)


def describe_smart(routing: SmartRouting, sweep: SweepSettings) -> list[str]:
    threshold = routing.max_cpu_tokens
    times = routing.cpu_inference
    at = ", ".join(
        f"{tokens} tokens {times.seconds(tokens) * 1000:,.0f} ms"
        for tokens in sorted({16, 64, threshold, 512})
    )
    mix = sweep.text_lengths
    return [
        f"- smart: requests of at most {threshold} tokens go to inference_cpu, the others to "
        f"inference; CPU inference time by tokens: {times.source} ({at}; "
        f"{times.describe_machine()}); GPU inference: the stage times (no token count in them)",
        f"- text lengths: {mix.source}: {mix.describe()}; "
        f"{mix.short_share(threshold):.0%} of requests at most {threshold} tokens",
    ]


def _worker_seconds(result: SimResult) -> str:
    parts = []
    for usage in result.endpoints:
        per_1000 = (usage.billed_s + usage.active_s) / result.requests * 1000
        parts.append(f"{usage.name} {per_1000:,.0f}")
    return ", ".join(parts)


OVERLOADED_NOTE = (
    "Overloaded: an endpoint got more work than its max workers can do (the load, 1.0x being "
    "all they can), so its queue and latency grow for as long as the traffic lasts, and its "
    "cost is too low (the work left at the end is not billed). Give it more workers "
    "(`--workers-max ENDPOINT=N`) or fewer jobs."
)


def _layout_cell(name: str, result: SimResult) -> str:
    overloaded = ", ".join(f"{u.name} at {u.load:.1f}x" for u in result.overloaded)
    return f"{name} (overloaded: {overloaded})" if overloaded else name


def table(points: Sequence[RatePoint], layouts: Sequence[str]) -> str:
    rows = [
        "| rate | layout | USD per 1,000 requests | p50 latency | p95 latency "
        "| billed worker-seconds per 1,000 requests |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    overloaded = False
    for point in points:
        if point.skipped:
            rows.append(f"| {format_rate(point.rate)} | (skipped: {point.skipped}) | | | | |")
            continue
        for i, name in enumerate(layouts):
            result = point.results[name]
            overloaded = overloaded or bool(result.overloaded)
            rows.append(
                f"| {format_rate(point.rate) if i == 0 else ''} | {_layout_cell(name, result)} "
                f"| {format_usd(result.cost_per_1000_usd)} "
                f"| {format_seconds(result.latency_percentile_s(0.5))} "
                f"| {format_seconds(result.latency_percentile_s(0.95))} "
                f"| {_worker_seconds(result)} |"
            )
    if overloaded:
        rows += ["", OVERLOADED_NOTE]
    return "\n".join(rows)


# How a sentence names each layout.
LAYOUT_NAMES = {
    "split": "the split",
    "gpu-only": "the GPU-only layout",
    "smart": "the smart layout",
}


def verdict(
    points: Sequence[RatePoint],
    found: Sequence[Crossing],
    first: str = "split",
    second: str = "gpu-only",
) -> str:
    """One plain sentence on when `first` pays against `second`, from their figures."""
    a, b = LAYOUT_NAMES[first], LAYOUT_NAMES[second]
    usable = comparable(points, first, second)
    if not usable:
        return f"No rate was simulated for both {a} and {b} without overloading one."
    savings = [(-relative_difference(p, first, second), p.rate) for p in usable]
    if not found:
        best, at = max(savings)
        if best > 0:
            return (
                f"{a[0].upper() + a[1:]} is cheaper at every simulated rate, saving "
                f"{min(savings)[0]:.0%} to {best:.0%} over {b} (most at {format_rate(at)})."
            )
        return (
            f"{b[0].upper() + b[1:]} is cheaper at every simulated rate: {a} does not pay "
            f"for this traffic (it costs {-best:.0%} to {-min(savings)[0]:.0%} more)."
        )
    crossing = found[0]
    if len(found) == 1:
        cheaper = crossing.cheaper_above
        dearer = second if cheaper == first else first
        best, at = max(
            (-relative_difference(p, cheaper, dearer), p.rate)
            for p in usable
            if p.rate > crossing.rate
        )
        return (
            f"Below {crossing.rate:.2g} requests per second ({format_rate(crossing.rate)}) "
            f"{LAYOUT_NAMES[dearer]} is cheaper; above it {LAYOUT_NAMES[cheaper]} saves up to "
            f"{best:.0%} (at {format_rate(at)})."
        )
    swaps = "; ".join(
        f"at {format_rate(c.rate)} the {c.cheaper_above} layout becomes cheaper" for c in found
    )
    return f"The cheaper layout changes more than once: {swaps}."


def format_change(change: float) -> str:
    """A relative cost change as a signed percentage: -38% is 38% cheaper."""
    return f"{change:+.0%}".replace("+0%", "0%").replace("-0%", "0%")


def share_table(rows: Sequence[ShareRow], shares: Sequence[float], max_cpu_tokens: int) -> str:
    """The smart layout's cost against the split's, by rate and share of short requests."""
    lines = [
        f"Smart against split, by the share of short requests (at most {max_cpu_tokens} "
        "tokens): the smart layout's cost per 1,000 requests, relative to the split's "
        "(-40% is 40% cheaper).",
        "",
        "| rate | " + " | ".join(f"{share:.0%} short" for share in shares) + " | smart pays from |",
        "| --- | " + " | ".join("---:" for _ in shares) + " | ---: |",
    ]
    for row in rows:
        if row.skipped:
            lines.append(f"| {format_rate(row.rate)} | (skipped) |" + " |" * len(shares))
            continue
        pays_from = row.pays_from()
        star = "*" * bool(row.overloaded)
        if pays_from is None:
            pays = f"never{star}"
        elif pays_from == 0:
            pays = f"{min(set(shares) - row.overloaded):.0%} or less"
        else:
            pays = f"{pays_from:.0%} short"
        cells = " | ".join(
            format_change(row.against_split[share]) + "*" * (share in row.overloaded)
            for share in shares
        )
        lines.append(f"| {format_rate(row.rate)} | {cells} | {pays} |")
    if any(row.overloaded for row in rows):
        lines += [
            "",
            "\\* The smart layout overloaded an endpoint (see Overloaded above): its cost there "
            'is too low to compare, and "smart pays from" leaves it out.',
        ]
    return "\n".join(lines)


def plot(
    points: Sequence[RatePoint],
    layouts: Sequence[str],
    found: Mapping[tuple[str, str], Sequence[Crossing]],
    path: Path,
    title: str,
    share_rows: Sequence[ShareRow] = (),
    max_cpu_tokens: int | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [p for p in points if not p.skipped]
    share_rows = [row for row in share_rows if not row.skipped]
    panels = 3 if share_rows else 2
    figure, axes_list = plt.subplots(1, panels, figsize=(6 * panels, 4.8))
    cost_axes, latency_axes = axes_list[:2]
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
        for crossing in itertools.chain(*found.values()):
            axes.axvline(crossing.rate, color="grey", linestyle="--")
        axes.legend()
    for (first, second), pair_found in found.items():
        for crossing in pair_found:
            cost_axes.annotate(
                f"{first} = {second} at {format_rate(crossing.rate)}",
                xy=(crossing.rate, 0.97),
                xycoords=("data", "axes fraction"),
                rotation=90,
                ha="right",
                va="top",
                fontsize=8,
            )
    if share_rows:
        plot_shares(axes_list[2], share_rows, max_cpu_tokens)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_shares(axes, rows: Sequence[ShareRow], max_cpu_tokens: int | None) -> None:
    """Smart's cost against split's by rate, one line per share of short requests."""
    rates = [row.rate for row in rows]
    for share in sorted(rows[0].against_split, reverse=True):
        axes.plot(
            rates,
            [row.against_split[share] * 100 for row in rows],
            marker=".",
            label=f"{share:.0%} short",
        )
    overloaded = [(row.rate, row.against_split[s] * 100) for row in rows for s in row.overloaded]
    if overloaded:
        axes.scatter(
            *zip(*overloaded, strict=True),
            marker="x",
            color="black",
            zorder=3,
            label="overloaded: cost too low",
        )
    axes.axhline(0, color="grey", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("traffic (requests per second)")
    axes.set_ylabel("smart vs split, % cost (below 0: smart cheaper)")
    axes.set_title(f"short: at most {max_cpu_tokens} tokens", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
