"""What do 1,000 requests cost, and how fast are they, at my traffic? (`make cost`)

    python -m cost_model [--rates 1/h,1/min,0.5/s,100/s] [--profile poisson|bursty|day]
                         [--stage-times FILE.jsonl] [--price inference=0.00044]
                         [--max-cpu-tokens 64] [--short-share 0.9] ...

Simulates Runpod serverless billing, event by event, for the split layout (three endpoints),
the GPU-only layout (one GPU endpoint doing all three stages) and the smart layout (the split
plus a CPU inference endpoint that takes the requests of few tokens), at each traffic rate:
prints the inputs, a table (cost per 1,000 requests, p50/p95 latency, billed worker-seconds),
when the split and the smart layout pay, and the smart layout against the split by share of
short requests, and draws the same as a PNG.

Per-endpoint options take `VALUE` (every endpoint) or `ENDPOINT=VALUE` (one of preprocess,
inference, inference_cpu, postprocess, gpu_only), and may be repeated: `--idle-timeout 5
--idle-timeout inference=30`.
"""

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from contracts import Endpoint, StagePrices, describe_validation_error
from contracts.routing import DEFAULT_SMART_MAX_CPU_TOKENS
from cost_model import cpu_inference_times, report, text_lengths
from cost_model.layouts import ENDPOINTS, GPU_ONLY, LAYOUTS, EndpointSettings, SmartRouting
from cost_model.stage_times import SHIPPED, StageTimesError, load
from cost_model.sweep import SweepSettings, crossings, run_sweep, share_sweep
from cost_model.traffic import PROFILES

DEFAULT_RATES = "1/h,10/h,1/min,0.1/s,0.2/s,0.5/s,1/s,2/s,5/s,10/s,20/s,30/s,50/s,70/s,100/s"
DEFAULT_PLOT = Path(".cache") / "cost.png"
DEFAULT_SHORT_SHARES = "0.1,0.25,0.5,0.75,0.9,1"
DEFAULT_SHARE_RATES = "1/h,1/min,0.1/s,0.2/s,0.5/s,1/s,2/s,5/s,10/s,20/s"
UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
# Runpod's console defaults: idle timeout 5 s, 0 active workers, max 3.
# MAX_CONCURRENCY defaults to 8; the CPU handlers run their work inline, one job at a time.
DEFAULTS = {
    "idle_timeout": 5.0,
    "workers_min": 0,
    "workers_max": 3,
    "concurrency": 8,
    "cpu_lanes": 1,
}


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


def per_endpoint(
    values: Sequence[str] | None, default: float, convert: Callable[[str], float], option: str
) -> dict[str, float]:
    """`--option 5` sets every endpoint, `--option inference=30` one; later ones win."""
    chosen = dict.fromkeys(ENDPOINTS, default)
    for value in values or []:
        name, _, number = value.rpartition("=")
        name = name.replace("-", "_")
        if name and name not in ENDPOINTS:
            raise ValueError(f"{option}: unknown endpoint {name!r} (one of {', '.join(ENDPOINTS)})")
        try:
            parsed = convert(number)
        except ValueError:
            raise ValueError(f"{option}: {number!r} is not a number") from None
        for target in [name] if name else ENDPOINTS:
            chosen[target] = parsed
    return chosen


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
        help="JSONL of pipeline answers' timings (default: the set shipped in cost_model/data)",
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
        help="jobs one worker holds at once, MAX_CONCURRENCY (default 8)",
    )
    endpoints.add_argument(
        "--cpu-lanes",
        action="append",
        metavar="[ENDPOINT=]N",
        help="CPU work of held jobs that runs at once on one worker (default 1: inline)",
    )
    endpoints.add_argument(
        "--scaler", choices=["queue-delay", "request-count"], default="queue-delay"
    )
    endpoints.add_argument(
        "--scaler-value",
        type=float,
        default=4.0,
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
        choices=["pack", "spread"],
        default="pack",
        help="which worker takes a job: the busiest with room (default) or the least busy",
    )
    endpoints.add_argument(
        "--max-cpu-tokens",
        type=parse_tokens,
        default=DEFAULT_SMART_MAX_CPU_TOKENS,
        help="smart layout: requests of at most this many tokens go to the CPU inference "
        f"endpoint (default {DEFAULT_SMART_MAX_CPU_TOKENS}, SMART_MAX_CPU_TOKENS' default)",
    )
    endpoints.add_argument(
        "--hop-ms",
        type=float,
        default=0.0,
        help="Runpod queue overhead per hop, on top of the measured times (default 0)",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--layouts", default=",".join(LAYOUTS), help=f"default {','.join(LAYOUTS)}")
    output.add_argument(
        "--short-shares",
        type=parse_shares,
        default=parse_shares(DEFAULT_SHORT_SHARES),
        help="shares of short requests to compare smart and split at, or none "
        f"(default {DEFAULT_SHORT_SHARES})",
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
    measured = {**measured_cold_starts}
    measured.setdefault(GPU_ONLY, measured.get(Endpoint.INFERENCE))
    missing = [name for name in ENDPOINTS if measured.get(name) is None]
    cold_start = per_endpoint(args.cold_start, 0.0, float, "--cold-start")
    for name in ENDPOINTS:
        if not any(v.split("=")[0].replace("-", "_") in ("", name) for v in args.cold_start or []):
            if name in missing:
                source = "CPU inference times" if name == Endpoint.INFERENCE_CPU else "stage times"
                raise ValueError(
                    f"no measured cold start for {name} in the {source} file: "
                    f"give --cold-start {name}=SECONDS"
                )
            cold_start[name] = measured[name]
    # NaN marks the prices left to StagePrices' defaults (gpu_only then follows inference).
    prices = per_endpoint(args.price, math.nan, float, "--price")
    try:
        stage_prices = StagePrices(**{k: v for k, v in prices.items() if not math.isnan(v)})
    except ValidationError as exc:
        raise ValueError(f"--price: {describe_validation_error(exc)[0]}") from None
    scaler = "queue_delay" if args.scaler == "queue-delay" else "request_count"
    return EndpointSettings(
        prices=stage_prices,
        cold_start_s=cold_start,
        image_pull_s=per_endpoint(args.image_pull, 0.0, float, "--image-pull"),
        idle_timeout_s=per_endpoint(
            args.idle_timeout, DEFAULTS["idle_timeout"], float, "--idle-timeout"
        ),
        workers_min=per_endpoint(args.workers_min, DEFAULTS["workers_min"], int, "--workers-min"),
        workers_max=per_endpoint(args.workers_max, DEFAULTS["workers_max"], int, "--workers-max"),
        concurrency=per_endpoint(args.concurrency, DEFAULTS["concurrency"], int, "--concurrency"),
        cpu_lanes=per_endpoint(args.cpu_lanes, DEFAULTS["cpu_lanes"], int, "--cpu-lanes"),
        dispatch=args.dispatch,
        scaler=scaler,
        scaler_value=args.scaler_value,
        active_discount=args.active_discount,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    layout_names = [n.strip() for n in args.layouts.split(",") if n.strip()]
    unknown = [n for n in layout_names if n not in LAYOUTS]
    if unknown or not layout_names:
        parser.error(f"--layouts: unknown {unknown} (known: {', '.join(LAYOUTS)})")
    if args.requests < 1 or args.warmup_s < 0 or args.hop_ms < 0:
        parser.error("--requests must be >= 1, --warmup-s and --hop-ms >= 0")
    if not 0 <= args.active_discount <= 0.3:
        parser.error("--active-discount: Runpod's discount on active workers is 0 to 0.3")
    try:
        measured = load(args.stage_times)
        cpu_times = cpu_inference_times.load(args.cpu_inference_times)
        cold_starts = {**measured.cold_starts_s, **cpu_times.cold_starts_s}
        settings = endpoint_settings(args, cold_starts)
        configs = settings.configs()
        mix = (
            text_lengths.load(args.text_lengths) if args.text_lengths else text_lengths.DEFAULT_MIX
        )
        if args.short_share is not None:
            mix = mix.with_short_share(args.short_share, args.max_cpu_tokens)
        routing = SmartRouting(args.max_cpu_tokens, cpu_times)
        compare_shares = {"smart", "split"} <= set(layout_names) and bool(args.short_shares)
        if compare_shares:
            for share in args.short_shares:
                # A share the mix cannot make (no long request in it, say) fails now.
                mix.with_short_share(share, args.max_cpu_tokens)
    except (StageTimesError, ValueError) as exc:
        parser.error(str(exc))
    layouts = [LAYOUTS[name](configs, routing) for name in layout_names]
    sweep = SweepSettings(
        profile=args.profile,
        requests=args.requests,
        warmup_s=args.warmup_s,
        max_requests=args.max_requests,
        hop_s=args.hop_ms / 1000,
        seed=args.seed,
        text_lengths=mix,
    )

    progress_bar = None
    if not args.quiet:
        from tqdm import tqdm

        total = len(args.rates) + (len(args.share_rates) if compare_shares else 0)
        progress_bar = tqdm(total=total, desc="simulating", unit="rate", file=sys.stderr)
    progress = progress_bar.update if progress_bar else lambda: None
    points = run_sweep(layouts, args.rates, measured.samples, sweep, progress=progress)
    share_rows = []
    if compare_shares:
        smart, split = (layouts[layout_names.index(name)] for name in ("smart", "split"))
        share_rows = share_sweep(
            smart,
            split,
            args.share_rates,
            measured.samples,
            sweep,
            args.short_shares,
            args.max_cpu_tokens,
            done=points,
            progress=progress,
        )
    if progress_bar:
        progress_bar.close()

    print(report.describe_inputs(measured, settings, sweep, layout_names, routing))
    print()
    print(report.table(points, layout_names))
    print()
    found = {}
    for pair in (("split", "gpu-only"), ("smart", "split"), ("smart", "gpu-only")):
        if set(pair) <= set(layout_names):
            found[pair] = crossings(points, *pair)
            print(report.verdict(points, found[pair], *pair))
    if share_rows:
        print()
        print(report.share_table(share_rows, args.short_shares, args.max_cpu_tokens))
    if not args.no_plot:
        title = (
            f"{args.profile} traffic; stage times: {measured.source} "
            f"({measured.describe_machine()})"
        )
        path = report.plot(
            points, layout_names, found, args.plot, title, share_rows, args.max_cpu_tokens
        )
        print()
        print(f"Plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
