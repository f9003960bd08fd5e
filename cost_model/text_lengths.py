"""The text-length mix: how many tokens a request carries, all its windows together.

Only the smart layout reads it: a request of at most `--max-cpu-tokens` tokens is short and
goes to the CPU inference endpoint, whose time grows with its tokens; a longer one goes to the
GPU. A mix is a list of buckets, each a range of token counts and its share of the requests;
a request's tokens are drawn uniformly from its bucket's range.

- The default, DEFAULT_MIX, is an assumption, not a measurement: traffic like product reviews,
  mostly a sentence or a few (80% of requests within 128 tokens) with a long tail up to four
  windows of 512.
- `--text-lengths FILE` reads yours: one request per line, either its token count (`37`, or
  `37,5` for a count seen 5 times) or a JSON object with `tokens` or `route.tokens`, as
  /classify-smart answers carry them. Blank lines and `#` comments are skipped.
- `--short-share P` reweights a mix so that a share P of requests is short (for the threshold
  given), keeping the shape of each side.
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path


class TextLengthsError(ValueError):
    """The mix cannot be used; the message names the file and line when one is to blame."""


@dataclass(frozen=True)
class Bucket:
    low: int  # tokens, inclusive
    high: int  # tokens, inclusive
    weight: float

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def share_at_most(self, tokens: int) -> float:
        """The part of this bucket's requests with at most `tokens` tokens."""
        return min(max(tokens - self.low + 1, 0), self.size) / self.size


@dataclass(frozen=True)
class TextLengthMix:
    buckets: tuple[Bucket, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.buckets or sum(b.weight for b in self.buckets) <= 0:
            raise TextLengthsError(f"{self.source}: no request length with a weight above 0")
        if any(b.low < 1 or b.high < b.low or b.weight < 0 for b in self.buckets):
            raise TextLengthsError(f"{self.source}: a bucket needs 1 <= low <= high, weight >= 0")

    def short_share(self, max_cpu_tokens: int) -> float:
        """The share of requests with at most `max_cpu_tokens` tokens."""
        total = sum(b.weight for b in self.buckets)
        return sum(b.weight * b.share_at_most(max_cpu_tokens) for b in self.buckets) / total

    def with_short_share(self, share: float, max_cpu_tokens: int) -> "TextLengthMix":
        """This mix reweighted so that `share` of requests has at most `max_cpu_tokens` tokens;
        within each side of the threshold the shape stays."""
        if not 0 <= share <= 1:
            raise TextLengthsError(f"short share {share:g} is not between 0 and 1")
        short, long = [], []
        for b in self.buckets:
            part = b.share_at_most(max_cpu_tokens)
            if part > 0:
                short.append(Bucket(b.low, min(b.high, max_cpu_tokens), b.weight * part))
            if part < 1:
                long.append(Bucket(max(b.low, max_cpu_tokens + 1), b.high, b.weight * (1 - part)))
        buckets = []
        for side, wanted, name in ((short, share, "at most"), (long, 1 - share, "more than")):
            total = sum(b.weight for b in side)
            if wanted > 0 and total <= 0:
                raise TextLengthsError(
                    f"{self.source}: no request has {name} {max_cpu_tokens} tokens, so none "
                    f"can make up {wanted:.0%} of the traffic"
                )
            if wanted > 0:
                buckets += [Bucket(b.low, b.high, b.weight / total * wanted) for b in side]
        return TextLengthMix(tuple(buckets), f"{self.source}, {share:.0%} short")

    def draw(self, rng: random.Random, count: int) -> list[int]:
        """`count` requests' token counts."""
        picks = rng.choices(self.buckets, weights=[b.weight for b in self.buckets], k=count)
        return [b.low if b.size == 1 else rng.randint(b.low, b.high) for b in picks]

    def describe(self) -> str:
        total = sum(b.weight for b in self.buckets)
        if len(self.buckets) > 8:
            low = min(b.low for b in self.buckets)
            high = max(b.high for b in self.buckets)
            return f"{len(self.buckets)} lengths from {low} to {high} tokens"
        return ", ".join(
            f"{b.low}-{b.high} tokens {b.weight / total:.0%}" for b in self.buckets if b.weight
        )


DEFAULT_MIX = TextLengthMix(
    (
        Bucket(8, 32, 0.35),
        Bucket(33, 64, 0.25),
        Bucket(65, 128, 0.20),
        Bucket(129, 256, 0.10),
        Bucket(257, 512, 0.06),
        Bucket(513, 2048, 0.04),
    ),
    "default mix",
)


EXPECTED_LINE = (
    "expected a token count (37), a count and its weight (37,5), or a JSON object with "
    "tokens or route.tokens"
)


def _parse_line(text: str) -> tuple[int, float] | None:
    """(tokens, weight) from one line; None for a JSON record with no token count (an error
    answer, say)."""
    if text.startswith("{"):
        record = json.loads(text)
        route = record.get("route")
        tokens = route.get("tokens") if isinstance(route, dict) else record.get("tokens")
        if tokens is None:
            return None
        if not isinstance(tokens, int) or isinstance(tokens, bool):
            raise ValueError(EXPECTED_LINE)
        return tokens, 1.0
    fields = text.replace(",", " ").split()
    if len(fields) > 2:
        raise ValueError(EXPECTED_LINE)
    return int(fields[0]), float(fields[1]) if len(fields) == 2 else 1.0


def load(path: Path | str) -> TextLengthMix:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TextLengthsError(f"cannot read text lengths from {path}: {exc.strerror}") from None
    weights: dict[int, float] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text.startswith("{"):
            text = text.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            parsed = _parse_line(text)
        except json.JSONDecodeError as exc:
            raise TextLengthsError(f"{path.name}, line {number}: not JSON ({exc.msg})") from None
        except ValueError:
            raise TextLengthsError(f"{path.name}, line {number}: {EXPECTED_LINE}") from None
        if parsed is None:
            continue
        tokens, weight = parsed
        if tokens < 1 or not weight >= 0:
            raise TextLengthsError(
                f"{path.name}, line {number}: tokens must be >= 1 and a weight >= 0"
            )
        weights[tokens] = weights.get(tokens, 0.0) + weight
    if not weights:
        raise TextLengthsError(f"{path.name}: no request's token count in it")
    return TextLengthMix(tuple(Bucket(t, t, w) for t, w in sorted(weights.items())), path.name)
