"""The throughput-by-concurrency picture, redrawn from a `make benchmark` results file.

    python -m benchmarks.throughput_figure                      # .cache/benchmark/results.json
    python -m benchmarks.throughput_figure RESULTS --out docs/throughput.png

`make benchmark` draws the same picture for its own run; this draws it again from the data
that run wrote, for the documentation, without measuring anything.
"""

import argparse
import json
import sys
from pathlib import Path

from benchmarks.plot import plot_throughput

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO_ROOT / ".cache" / "benchmark" / "results.json"
DEFAULT_OUT = REPO_ROOT / "docs" / "throughput.png"


def draw_from_results(results: dict, out: Path) -> Path:
    """The picture of one run: its pipeline levels against its naive and limit baselines."""
    levels = sorted(results["pipeline"], key=lambda level: level["concurrency"])
    machine = results["machine"]
    title = (
        f"{results['model']['name']}\n{machine['cores']} cores, {machine.get('gpu') or 'no GPU'}"
    )
    return plot_throughput(
        [level["concurrency"] for level in levels],
        [level["requests_per_s"] for level in levels],
        results["naive"]["texts_per_s"],
        results["limit"]["texts_per_s"],
        title,
        out,
        {
            run["layout"]: run["texts_per_s"]
            for run in results.get("layouts", {}).get("layouts", [])
        },
        results.get("layouts", {}).get("concurrency", 16),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="?", default=DEFAULT_RESULTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except FileNotFoundError:
        print(f"error: no {args.results}: run `make benchmark` first", file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(f"error: {args.results} is not JSON: {error}", file=sys.stderr)
        return 2
    try:
        out = draw_from_results(results, args.out)
    except (KeyError, TypeError) as error:
        print(
            f"error: {args.results} is no `make benchmark` results file: {error}", file=sys.stderr
        )
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
