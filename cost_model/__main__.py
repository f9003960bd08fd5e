"""Which layout should I deploy, at my traffic, and what does it cost? (`make cost`)

    python -m cost_model [--rates 1/h,1/min,0.5/s,100/s] [--profile poisson|bursty|day]
                         [--stage-times FILE.jsonl] [--price inference=0.00044]
                         [--orchestrator endpoint|none] [--hop-ms 100] ...
    python -m cost_model --recommend --rate 2/s [...]

Simulates Runpod serverless billing, event by event, for every layout: split (three stage
endpoints), inline (the orchestrator runs the CPU stages; one hop to the GPU), single (one
GPU endpoint runs all three stages), and the smart variant of each (short texts to CPU
inference on ONNX Runtime), each behind the orchestrator's own worker. At each traffic rate
it prints the inputs, a table (cost per 1,000 requests, p50/p95 latency, billed
worker-seconds), the cheapest layout by rate, how heavy the CPU stages must be before the
split pays, and a smart layout against its base by share of short requests, and draws cost
and latency against traffic as a PNG.

`--recommend --rate R` simulates that one rate and ends with the lines to set in
deploy.toml's [deployment] table: `layout = "split" | "inline" | "single"` and
`smart = true | false`.

Per-endpoint options take `VALUE` (every endpoint) or `ENDPOINT=VALUE` (one of orchestrator,
preprocess, inference, inference_cpu, postprocess, single, single_cpu), and may be repeated:
`--idle-timeout 5 --idle-timeout inference=30`.
"""

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts import Endpoint
from contracts.routing import DEFAULT_SMART_MAX_CPU_TOKENS
from cost_model import cpu_inference_times, recommend, report, text_lengths
from cost_model.endpoints import (
    DEFAULT_HOP_MS,
    DEFAULT_ORCHESTRATOR_HOP_MS,
    ENDPOINTS,
    HOP_SOURCE,
    ORCHESTRATOR,
    EndpointSettings,
    OptionValueError,
    default_prices,
    defaults,
    named,
    resolve,
)
from cost_model.layouts import BASES, LAYOUT_NAMES, SMART_SUFFIX, LayoutInputs, SmartRouting, build
from cost_model.stage_times import SHIPPED, StageTimesError, load
from cost_model.sweep import SweepSettings, run_sweep, share_sweep
from cost_model.traffic import PROFILES

DEFAULT_RATES = "1/h,10/h,1/min,0.1/s,0.2/s,0.5/s,1/s,2/s,5/s,10/s,20/s,30/s,50/s,70/s,100/s"
DEFAULT_BREAK_EVEN_RATES = "1/min,1/s,10/s"
DEFAULT_PLOT = Path(".cache") / "cost.png"
DEFAULT_SHORT_SHARES = "0.1,0.25,0.5,0.75,0.9,1"
DEFAULT_SHARE_RATES = "1/h,1/min,0.1/s,0.2/s,0.5/s,1/s,2/s,5/s,10/s,20/s"
DEFAULT_SHARE_BASE = "inline"
UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    number, _, unit = text.strip().partition("/")
    try:
        value = float(number)
        rate = value / UNITS[unit or "s"]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(
            f"bad rate {text!r}: a number of requests per s, min or h, e.g. 0.5 or 1/h or 6/min"
        ) from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: must be above 0")
    return rate


def parse_rates(text: str) -> list[float]:
    if text.strip() == "none":
        return []
    return sorted({parse_rate(part) for part in text.split(",") if part.strip()})


def parse_share(text: str) -> float:
    try:
        share = float(text.strip().removesuffix("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        share = math.nan
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(
            f"bad share {text!r}: a number from 0 to 1, or a percentage, e.g. 0.9 or 90%"
        )
    return share


def parse_shares(text: str) -> list[float]:
    if text.strip() == "none":
        return []
    return sorted({parse_share(part) for part in text.split(",") if part.strip()})


def parse_tokens(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"bad token count {text!r}: a whole number >= 0")
    return int(text)


def nonnegative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise OptionValueError("not a number >= 0")
    return value


def whole(text: str) -> int:
    if not text.strip().isdigit():
        raise OptionValueError("not a whole number >= 0")
    return int(text)


def scaler(text: str) -> str:
    if text not in ("queue-delay", "request-count"):
        raise OptionValueError("not a scaler: queue-delay or request-count")
    return text.replace("-", "_")


def dispatch(text: str) -> str:
    if text not in ("pack", "spread"):
        raise OptionValueError("not a dispatch: pack or spread")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cost_model",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    traffic = parser.add_argument_group("traffic")
    traffic.add_argument(
        "--rates",
        type=parse_rates,
        default=parse_rates(DEFAULT_RATES),
        help=f"mean request rates, comma-separated (default {DEFAULT_RATES})",
    )
    traffic.add_argument("--profile", choices=sorted(PROFILES), default="poisson")
    traffic.add_argument(
        "--requests", type=int, default=1000, help="measured requests per rate (default 1000)"
    )
    traffic.add_argument(
        "--warmup-s",
        type=float,
        default=300.0,
        help="seconds of traffic ramping up to the rate before measuring (default 300)",
    )
    traffic.add_argument(
        "--max-requests",
        type=int,
        default=200_000,
        help="skip a rate needing more simulated requests (the day profile's whole days)",
    )
    traffic.add_argument("--seed", type=int, default=0)
    traffic.add_argument(
        "--text-lengths",
        type=Path,
        help="tokens per request: a file, one request per line (a count, or a JSON answer with "
        "route.tokens); default: a mix of mostly short texts with a long tail",
    )
    traffic.add_argument(
        "--short-share",
        type=parse_share,
        help="reweight the mix so this share of requests is short (at most --max-cpu-tokens)",
    )

    inputs = parser.add_argument_group("measured inputs and prices")
    inputs.add_argument(
        "--stage-times",
        type=Path,
        default=SHIPPED,
        help="JSONL of pipeline answers' timings (default: the set shipped in cost_model/data, "
        "measured on a 2-core CPU with no GPU and the tiny model)",
    )
    inputs.add_argument(
        "--cpu-inference-times",
        type=Path,
        default=cpu_inference_times.SHIPPED,
        help="JSONL of the CPU inference endpoint's time by tokens (default: the shipped set)",
    )
    inputs.add_argument(
        "--price",
        action="append",
        metavar="[ENDPOINT=]USD_PER_S",
        help="USD per worker-second (default 0.0002 CPU, 0.0015 GPU: set your own)",
    )
    inputs.add_argument(
        "--cold-start",
        action="append",
        metavar="[ENDPOINT=]S",
        help="seconds from worker start to ready (default: measured, in the stage times file)",
    )
    inputs.add_argument(
        "--image-pull",
        action="append",
        metavar="[ENDPOINT=]S",
        help="seconds added to every cold start for pulling the image (default 0)",
    )

    endpoints = parser.add_argument_group("endpoints")
    endpoints.add_argument(
        "--orchestrator",
        choices=["endpoint", "none"],
        default="endpoint",
        help="endpoint (default): the orchestrator is a Runpod load-balancing endpoint on a "
        "CPU instance, billed; none: it runs elsewhere, not billed here",
    )
    endpoints.add_argument(
        "--orchestrator-hop-ms",
        type=float,
        default=DEFAULT_ORCHESTRATOR_HOP_MS,
        help="the orchestrator's CPU per call it makes (default "
        f"{DEFAULT_ORCHESTRATOR_HOP_MS:g}, make benchmark's cost per hop on a 2-core CPU)",
    )
    endpoints.add_argument(
        "--hop-ms",
        type=float,
        default=DEFAULT_HOP_MS,
        help=f"Runpod's queue delay per job on a queue-based endpoint (default "
        f"{DEFAULT_HOP_MS:g}: {HOP_SOURCE})",
    )
    endpoints.add_argument(
        "--idle-timeout",
        action="append",
        metavar="[ENDPOINT=]S",
        help="seconds a worker waits for a job before it stops (default 5, Runpod's)",
    )
    endpoints.add_argument(
        "--workers-min",
        action="append",
        metavar="[ENDPOINT=]N",
        help="active workers, always up and billed (default 0)",
    )
    endpoints.add_argument(
        "--workers-max", action="append", metavar="[ENDPOINT=]N", help="(default 3, Runpod's)"
    )
    endpoints.add_argument(
        "--concurrency",
        action="append",
        metavar="[ENDPOINT=]N",
        help="jobs one worker holds at once, MAX_CONCURRENCY (default 8; the orchestrator's "
        "requests: no limit)",
    )
    endpoints.add_argument(
        "--cpu-lanes",
        action="append",
        metavar="[ENDPOINT=]N",
        help="CPU work of held jobs that runs at once on one worker (default 1)",
    )
    endpoints.add_argument(
        "--scaler",
        action="append",
        metavar="[ENDPOINT=]queue-delay|request-count",
        help="(default queue-delay; the orchestrator's request-count, as deploy.toml sets it)",
    )
    endpoints.add_argument(
        "--scaler-value",
        action="append",
        metavar="[ENDPOINT=]N",
        help="queue delay in seconds, or requests per worker (default 4)",
    )
    endpoints.add_argument(
        "--active-discount",
        type=float,
        default=0.0,
        help="discount on active (min) workers, 0 to 0.3 (default 0)",
    )
    endpoints.add_argument(
        "--dispatch",
        action="append",
        metavar="[ENDPOINT=]pack|spread",
        help="which worker takes a job: the busiest with room (pack, the default) or the least "
        "busy (spread, the orchestrator's default: a load balancer spreads requests)",
    )
    endpoints.add_argument(
        "--max-cpu-tokens",
        type=parse_tokens,
        default=DEFAULT_SMART_MAX_CPU_TOKENS,
        help="smart layouts: requests of at most this many tokens go to CPU inference "
        f"(default {DEFAULT_SMART_MAX_CPU_TOKENS}, SMART_MAX_CPU_TOKENS' default)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--layouts", default=",".join(LAYOUT_NAMES), help=f"default {','.join(LAYOUT_NAMES)}"
    )
    output.add_argument(
        "--recommend",
        action="store_true",
        help="simulate --rate alone and print the layout to deploy there, as deploy.toml lines",
    )
    output.add_argument("--rate", type=parse_rate, help="the rate --recommend recommends for")
    output.add_argument(
        "--break-even-rates",
        type=parse_rates,
        default=parse_rates(DEFAULT_BREAK_EVEN_RATES),
        help="rates at which to find how heavy the CPU stages must be before the split pays, "
        f"or none (default {DEFAULT_BREAK_EVEN_RATES})",
    )
    output.add_argument(
        "--short-shares",
        type=parse_shares,
        default=parse_shares(DEFAULT_SHORT_SHARES),
        help="shares of short requests to compare a smart layout and its base at, or none "
        f"(default {DEFAULT_SHORT_SHARES})",
    )
    output.add_argument(
        "--share-base",
        choices=BASES,
        default=DEFAULT_SHARE_BASE,
        help=f"the layout whose smart variant the shares compare (default {DEFAULT_SHARE_BASE})",
    )
    output.add_argument(
        "--share-rates",
        type=parse_rates,
        default=parse_rates(DEFAULT_SHARE_RATES),
        help=f"the rates to compare them at (default {DEFAULT_SHARE_RATES})",
    )
    output.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"default {DEFAULT_PLOT}")
    output.add_argument("--no-plot", action="store_true")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def endpoint_settings(args: argparse.Namespace, measured_cold_starts: dict) -> EndpointSettings:
    """`measured_cold_starts`: by endpoint, from the measurement files' headers."""
    cold_start = resolve(named(args.cold_start, nonnegative, "--cold-start"), measured_cold_starts)
    missing = [name for name in ENDPOINTS if cold_start.get(name) is None]
    if missing:
        source = "CPU inference times" if missing[0] == Endpoint.INFERENCE_CPU else "stage times"
        raise ValueError(
            f"no measured cold start for {missing[0]} in the {source} file: "
            f"give --cold-start {missing[0]}=SECONDS"
        )
    prices = resolve(named(args.price, nonnegative, "--price"), default_prices())

    def option(values, setting, convert, flag):
        return {**defaults(setting), **named(values, convert, flag)}

    return EndpointSettings(
        prices=prices,
        cold_start_s=cold_start,
        image_pull_s=option(args.image_pull, "image_pull", nonnegative, "--image-pull"),
        idle_timeout_s=option(args.idle_timeout, "idle_timeout", nonnegative, "--idle-timeout"),
        workers_min=option(args.workers_min, "workers_min", whole, "--workers-min"),
        workers_max=option(args.workers_max, "workers_max", whole, "--workers-max"),
        concurrency=option(args.concurrency, "concurrency", whole, "--concurrency"),
        cpu_lanes=option(args.cpu_lanes, "cpu_lanes", whole, "--cpu-lanes"),
        scaler=option(args.scaler, "scaler", scaler, "--scaler"),
        scaler_value=option(args.scaler_value, "scaler_value", nonnegative, "--scaler-value"),
        dispatch=option(args.dispatch, "dispatch", dispatch, "--dispatch"),
        active_discount=args.active_discount,
        orchestrator_billed=args.orchestrator == "endpoint",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The layout names asked for; a clear error for options that do not fit together."""
    names = [n.strip() for n in args.layouts.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYOUT_NAMES]
    if unknown or not names:
        parser.error(f"--layouts: unknown {unknown} (known: {', '.join(LAYOUT_NAMES)})")
    if args.requests < 1 or args.warmup_s < 0 or args.hop_ms < 0 or args.orchestrator_hop_ms < 0:
        parser.error("--requests must be >= 1, --warmup-s, --hop-ms, --orchestrator-hop-ms >= 0")
    if not 0 <= args.active_discount <= 0.3:
        parser.error("--active-discount: Runpod's discount on active workers is 0 to 0.3")
    if not args.rates:
        parser.error("--rates: give at least one rate")
    if args.recommend != (args.rate is not None):
        parser.error("--recommend and --rate go together: --recommend --rate 2/s")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    layout_names = check(parser, args)
    share_pair = (args.share_base + SMART_SUFFIX, args.share_base)
    compare_shares = (
        not args.recommend and set(share_pair) <= set(layout_names) and bool(args.short_shares)
    )
    try:
        measured = load(args.stage_times)
        cpu_times = cpu_inference_times.load(args.cpu_inference_times)
        cold_starts = {**measured.cold_starts_s, **cpu_times.cold_starts_s}
        settings = endpoint_settings(args, cold_starts)
        mix = (
            text_lengths.load(args.text_lengths) if args.text_lengths else text_lengths.DEFAULT_MIX
        )
        if args.short_share is not None:
            mix = mix.with_short_share(args.short_share, args.max_cpu_tokens)
        if compare_shares:
            for share in args.short_shares:
                # A share the mix cannot make (no long request in it, say) fails now.
                mix.with_short_share(share, args.max_cpu_tokens)
        inputs = LayoutInputs(
            configs=settings.configs(),
            routing=SmartRouting(args.max_cpu_tokens, cpu_times),
            orchestrator_hop_s=args.orchestrator_hop_ms / 1000,
            inline_loads_workers=settings.orchestrator_billed
            and ORCHESTRATOR not in named(args.cold_start, nonnegative, "--cold-start"),
        )
    except (StageTimesError, ValueError) as exc:
        parser.error(str(exc))
    layouts = [build(name, inputs) for name in layout_names]
    sweep = SweepSettings(
        profile=args.profile,
        requests=args.requests,
        warmup_s=args.warmup_s,
        max_requests=args.max_requests,
        hop_s=args.hop_ms / 1000,
        seed=args.seed,
        text_lengths=mix,
    )
    rates = [args.rate] if args.recommend else args.rates
    break_even_rates = rates if args.recommend else args.break_even_rates

    progress_bar = None
    if not args.quiet:
        from tqdm import tqdm

        total = len(rates) + (len(args.share_rates) if compare_shares else 0)
        progress_bar = tqdm(total=total, desc="simulating", unit="run", file=sys.stderr)
    progress = progress_bar.update if progress_bar else lambda: None
    points = run_sweep(layouts, rates, measured.samples, sweep, progress=progress)
    by_rate = {point.rate: point for point in points}
    share_rows = []
    if compare_shares:
        smart, base = (layouts[layout_names.index(name)] for name in share_pair)
        share_rows = share_sweep(
            smart,
            base,
            args.share_rates,
            measured.samples,
            sweep,
            args.short_shares,
            args.max_cpu_tokens,
            done=points,
            progress=progress,
        )
    split = next((layout for layout in layouts if layout.name == "split"), None)
    others = [layout for layout in layouts if layout.base != "split" and not layout.smart]
    break_evens = {}
    for rate in break_even_rates if split else []:
        at_scale_1 = by_rate.get(rate)
        break_evens[rate] = [
            recommend.break_even(split, other, rate, measured.samples, sweep, at_scale_1, progress)
            for other in others
        ]
    if progress_bar:
        progress_bar.close()

    print(
        report.describe_inputs(
            measured, settings, sweep, layouts, inputs.routing, inputs.orchestrator_hop_s
        )
    )
    print()
    print(report.table(points, layout_names))
    print()
    recommendations = [recommend.recommend(point) for point in points]
    print(report.recommendation_table(recommendations))
    if break_evens:
        print()
        print(report.BREAK_EVEN_NOTE)
        for rate, found in break_evens.items():
            print(report.describe_break_even(rate, found))
    if share_rows:
        print()
        print(report.share_table(share_rows, args.short_shares, args.max_cpu_tokens, *share_pair))
    if args.recommend:
        print()
        print(deploy_advice(recommendations[0], layouts))
    elif not args.no_plot:
        title = (
            f"{args.profile} traffic; stage times: {measured.source} "
            f"(measured on {measured.describe_machine()})"
        )
        path = report.plot(
            points,
            layout_names,
            args.plot,
            title,
            share_rows,
            args.max_cpu_tokens,
            share_pair,
        )
        print()
        print(f"Plot: {path}")
    return 0


def deploy_advice(found: recommend.Recommendation, layouts: Sequence) -> str:
    if found.cheapest is None:
        return "No layout to recommend at this rate: " + (
            found.skipped or "every layout overloaded an endpoint; raise --workers-max"
        )
    layout = next(layout for layout in layouts if layout.name == found.cheapest)
    tie = (
        f" (a tie with {found.runner_up}, under {recommend.TIE:.1%} apart: choose by latency, "
        f"p50 {report.format_seconds(found.p50_s)} here)"
        if found.tie
        else ""
    )
    return (
        f"To deploy {layout.name}, the cheapest for the inputs above{tie}, set in deploy.toml's "
        f"[deployment] table:\n\n{layout.deploy_lines}"
    )


if __name__ == "__main__":
    sys.exit(main())
