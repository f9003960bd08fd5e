"""What `make cost` prints and draws: the inputs, the tables, the recommendation, a PNG."""

from collections.abc import Sequence
from pathlib import Path

from cost_model.endpoints import (
    DEFAULT_HOP_MS,
    DEFAULT_ORCHESTRATOR_HOP_MS,
    HOP_SOURCE,
    ORCHESTRATOR,
    ORCHESTRATOR_HOP_SOURCE,
    UNLIMITED,
    EndpointSettings,
    source,
)
from cost_model.layouts import Layout, SmartRouting
from cost_model.recommend import MAX_SCALE, TIE, BreakEven, Recommendation
from cost_model.simulator import SimResult
from cost_model.stage_times import STAGES, MeasuredTimes
from cost_model.sweep import RatePoint, ShareRow, SweepSettings
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
    layouts: Sequence[Layout],
    routing: SmartRouting,
    orchestrator_hop_s: float,
) -> str:
    fields = " and ".join(sorted(measured.fields_used))
    means = ", ".join(f"{stage} {measured.mean_s(stage) * 1000:.1f} ms" for stage in STAGES)
    lines = [
        "Inputs (every figure below holds for these only):",
        f"- stage times: {measured.source}, {len(measured.samples)} requests ({fields}); "
        f"measured on {measured.describe_machine()}",
    ]
    if not measured.measured_on_gpu:
        lines.append(
            "- measured without a GPU: their inference time is a CPU's, not a GPU's; "
            "give yours with --stage-times"
        )
    lines.append(f"- mean per request: {means}")
    where = (
        "a Runpod load-balancing endpoint on a CPU instance, billed"
        if endpoints.orchestrator_billed
        else "elsewhere (--orchestrator none): no cold start, not billed"
    )
    hop_ms, orchestrator_hop_ms = sweep.hop_s * 1000, orchestrator_hop_s * 1000
    lines += [
        f"- orchestrator: {where}; {orchestrator_hop_ms:g} ms of its CPU per call it makes ("
        + source(
            orchestrator_hop_ms,
            DEFAULT_ORCHESTRATOR_HOP_MS,
            ORCHESTRATOR_HOP_SOURCE,
            "--orchestrator-hop-ms",
        )
        + ")",
        f"- queue hop: {hop_ms:g} ms per job on a queue-based endpoint ("
        + source(hop_ms, DEFAULT_HOP_MS, HOP_SOURCE, "--hop-ms")
        + ")",
    ]
    used = {config.name: config for layout in layouts for config in layout.endpoints}
    for name, config in endpoints.configs().items():
        if name not in used or (name == ORCHESTRATOR and not endpoints.orchestrator_billed):
            continue
        scaler = (
            f"queue delay scaler {config.scaler_value:g} s"
            if config.scaler == "queue_delay"
            else f"request count scaler {config.scaler_value:g}"
        )
        lines.append(
            f"- {name}: ${config.price_usd_per_s:g}/s, cold start {config.cold_start_s:.1f} s, "
            f"idle timeout {config.idle_timeout_s:g} s, workers {config.workers_min}-"
            f"{config.workers_max}, {jobs_per_worker(config.concurrency)}, CPU work "
            f"{config.cpu_lanes} at a time, {scaler}, dispatch {config.dispatch}"
        )
    inline = [layout for layout in layouts if layout.base == "inline"]
    for layout in inline:
        if layout.endpoints[0].cold_start_s != endpoints.configs()[ORCHESTRATOR].cold_start_s:
            lines.append(
                f"- {layout.name}: the orchestrator loads the stages it runs, so its cold start "
                f"is taken as the slowest of theirs: {layout.endpoints[0].cold_start_s:.1f} s"
            )
    if endpoints.active_discount:
        lines.append(f"- active workers {endpoints.active_discount:.0%} off")
    span = (
        f"whole days of at least {sweep.requests:,} requests"
        if sweep.profile in PERIOD_S
        else f"about {sweep.requests:,} requests"
    )
    lines.append(
        f"- traffic: {sweep.profile}; measured: {span} per rate, after {sweep.warmup_s:g} s "
        f"of traffic ramping up to the rate; seed {sweep.seed}"
    )
    lines.append(f"- layouts: {', '.join(layout.name for layout in layouts)}")
    if any(layout.smart for layout in layouts):
        lines += describe_smart(routing, sweep)
    return "\n".join(lines)


def jobs_per_worker(concurrency: int) -> str:
    return "no limit on jobs" if concurrency >= UNLIMITED else f"{concurrency} jobs per worker"


def describe_smart(routing: SmartRouting, sweep: SweepSettings) -> list[str]:
    threshold = routing.max_cpu_tokens
    times = routing.cpu_inference
    at = ", ".join(
        f"{tokens} tokens {times.seconds(tokens) * 1000:,.0f} ms"
        for tokens in sorted({16, 64, threshold, 512})
    )
    mix = sweep.text_lengths
    return [
        f"- smart: requests of at most {threshold} tokens go to CPU inference (ONNX Runtime), "
        f"the others to the GPU; CPU inference time by tokens: {times.source} ({at}; "
        f"measured on {times.describe_machine()}); GPU inference: the stage times (no token "
        "count in them)",
        f"- text lengths: {mix.source}: {mix.describe()}; "
        f"{mix.short_share(threshold):.0%} of requests at most {threshold} tokens",
    ]


def _worker_seconds(result: SimResult) -> str:
    parts = []
    for usage in result.endpoints:
        if not usage.price_usd_per_s:
            continue  # the orchestrator elsewhere: not billed here
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


def format_change(change: float) -> str:
    """A relative cost change as a signed percentage: -38% is 38% cheaper."""
    return f"{change:+.0%}".replace("+0%", "0%").replace("-0%", "0%")


def share_table(
    rows: Sequence[ShareRow], shares: Sequence[float], max_cpu_tokens: int, smart: str, base: str
) -> str:
    """A smart layout's cost against its base's, by rate and share of short requests."""
    lines = [
        f"{smart} against {base}, by the share of short requests (at most {max_cpu_tokens} "
        f"tokens): {smart}'s cost per 1,000 requests, relative to {base}'s "
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
            format_change(row.against_base[share]) + "*" * (share in row.overloaded)
            for share in shares
        )
        lines.append(f"| {format_rate(row.rate)} | {cells} | {pays} |")
    if any(row.overloaded for row in rows):
        lines += [
            "",
            f"\\* {smart} overloaded an endpoint (see Overloaded above): its cost there "
            'is too low to compare, and "smart pays from" leaves it out.',
        ]
    return "\n".join(lines)


def describe_saving(found: Recommendation) -> str:
    if not found.runner_up:
        return "(no other layout to compare)"
    if found.tie:
        return f"under {TIE:.1%} on {found.runner_up}: a tie"
    return f"{found.saving:.0%} on {found.runner_up}"


def recommendation_table(recommendations: Sequence[Recommendation]) -> str:
    """The cheapest layout at each rate, by how much, and the latency it costs."""
    lines = [
        "The cheapest layout at each rate (leaving out any that overloaded an endpoint), its "
        "saving on the next cheapest, and its p50 latency beside the fastest layout's:",
        "",
        "| rate | cheapest | USD per 1,000 requests | saves on the next cheapest | p50 latency "
        "| fastest (p50) |",
        "| --- | --- | ---: | --- | ---: | --- |",
    ]
    for r in recommendations:
        rate = format_rate(r.rate)
        if r.cheapest is None:
            why = f"skipped: {r.skipped}" if r.skipped else "every layout overloaded"
            lines.append(f"| {rate} | ({why}) | | | | |")
            continue
        saving = describe_saving(r)
        lines.append(
            f"| {rate} | {r.cheapest} | {format_usd(r.cost_per_1000_usd)} | {saving} "
            f"| {format_seconds(r.p50_s)} | {r.fastest} ({format_seconds(r.fastest_p50_s)}) |"
        )
    return "\n".join(lines)


def describe_break_even(rate: float, found: Sequence[BreakEven]) -> str:
    """One line per rate: how heavy the CPU stages must be before the split pays against
    each other layout."""
    if not found:
        return f"- {format_rate(rate)}: no layout to compare the split with."
    yours = f"{found[0].your_cpu_ms:,.1f} ms"
    parts = []
    for f in found:
        if f.skipped:
            parts.append(f"against {f.other}: skipped ({f.skipped})")
        elif f.scale is None:
            parts.append(
                f"against {f.other}: never, up to {MAX_SCALE:g} times "
                f"({f.your_cpu_ms * MAX_SCALE:,.0f} ms)"
            )
        elif f.scale == 1:
            parts.append(f"against {f.other}: already at these stage times")
        else:
            overloaded = f", where {f.other} overloads" * f.other_overloaded
            parts.append(
                f"against {f.other}: from about {f.cpu_ms:,.0f} ms ({f.scale:.3g} times)"
                + overloaded
            )
    return (
        f"- {format_rate(rate)} (preprocess + postprocess {yours} per request now): "
        + "; ".join(parts)
        + "."
    )


BREAK_EVEN_NOTE = (
    "How heavy the CPU stages must be before the split pays: preprocess + postprocess ms per "
    "request at which the split becomes the cheaper of it and each other layout. Searched, "
    "not solved: every request's preprocess and postprocess times are multiplied by a scale "
    "(inference times stay), doubling from 1, then bisected between the last two scales; the "
    f"first crossing found, up to {MAX_SCALE:g} times. A layout that overloads an endpoint "
    "(see --workers-max) loses to one that does not."
)


def plot(
    points: Sequence[RatePoint],
    layouts: Sequence[str],
    path: Path,
    title: str,
    share_rows: Sequence[ShareRow] = (),
    max_cpu_tokens: int | None = None,
    share_names: tuple[str, str] = ("", ""),
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [p for p in points if not p.skipped]
    share_rows = [row for row in share_rows if not row.skipped]
    panels = 3 if share_rows else 2
    figure, axes_list = plt.subplots(1, panels, figsize=(6 * panels, 4.8))
    cost_axes, latency_axes = axes_list[:2]
    rates = [p.rate for p in usable]
    for name in layouts:
        style = {"marker": "o", "label": name, "linestyle": "--" if "smart" in name else "-"}
        cost_axes.plot(rates, [p.results[name].cost_per_1000_usd for p in usable], **style)
        latency_axes.plot(
            rates, [p.results[name].latency_percentile_s(0.5) for p in usable], **style
        )
    overloaded = [
        (p.rate, p.results[name].cost_per_1000_usd)
        for p in usable
        for name in layouts
        if p.results[name].overloaded
    ]
    if overloaded:
        cost_axes.scatter(
            *zip(*overloaded, strict=True),
            marker="x",
            color="black",
            zorder=3,
            label="overloaded: cost too low",
        )
    for axes, ylabel in (
        (cost_axes, "USD per 1,000 requests"),
        (latency_axes, "p50 latency (s), queueing and cold starts included"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("traffic (requests per second)")
        axes.set_ylabel(ylabel)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    if share_rows:
        plot_shares(axes_list[2], share_rows, max_cpu_tokens, *share_names)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_shares(
    axes, rows: Sequence[ShareRow], max_cpu_tokens: int | None, smart: str, base: str
) -> None:
    """A smart layout's cost against its base's by rate, one line per share of short
    requests."""
    rates = [row.rate for row in rows]
    for share in sorted(rows[0].against_base, reverse=True):
        axes.plot(
            rates,
            [row.against_base[share] * 100 for row in rows],
            marker=".",
            label=f"{share:.0%} short",
        )
    overloaded = [(row.rate, row.against_base[s] * 100) for row in rows for s in row.overloaded]
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
    axes.set_ylabel(f"{smart} vs {base}, % cost (below 0: {smart} cheaper)")
    axes.set_title(f"short: at most {max_cpu_tokens} tokens", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
