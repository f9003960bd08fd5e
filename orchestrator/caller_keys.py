"""Who may call the orchestrator: the keys of API_KEYS and API_KEYS_FILE.

A key is given as itself or, better, as `sha256:` and the 64 hex digits of its SHA-256, so
the configuration holds no usable secret. Either way only the hash is kept. A presented key
is hashed and compared with every configured hash by hmac.compare_digest, all of them each
time, so neither the comparison nor the position of a match shows in the time it takes.

What logs may show of a key is its id: the name the file gives it, else `sha256:` and the
first 8 hex digits of its hash. Never the key.

API_KEYS holds entries separated by commas or whitespace. API_KEYS_FILE holds one entry per
line, optionally followed by a name; blank lines and lines starting with `#` are skipped.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HASH_PREFIX = "sha256:"
_HASH_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# What an HTTP header carries intact and a list can separate: printable ASCII, no comma.
_KEY = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ENTRY_SEPARATORS = re.compile(r"[,\s]+")
# Long enough that guessing is hopeless; `secrets.token_urlsafe(32)` makes 43 characters.
MIN_KEY_CHARS = 16
_ID_HEX_DIGITS = 8


@dataclass(frozen=True)
class CallerKey:
    id: str
    digest: bytes


class CallerKeys:
    """The configured keys: which one, if any, a presented key is."""

    def __init__(self, keys: Iterable[CallerKey] = ()):
        self._keys = tuple(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    @property
    def ids(self) -> list[str]:
        return [key.id for key in self._keys]

    def match(self, presented: str) -> CallerKey | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for key in self._keys:
            # Every hash is compared, even after a match.
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        return found


def key_hash(key: str) -> str:
    """The form to put in API_KEYS or API_KEYS_FILE instead of the key itself."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def parse_api_keys(text: str) -> list[CallerKey]:
    """API_KEYS's entries; a ValueError names the entry by position, never by content."""
    entries = [entry for entry in _ENTRY_SEPARATORS.split(text) if entry]
    return [_caller_key(entry, None, f"entry {n}") for n, entry in enumerate(entries, 1)]


def parse_api_keys_file(text: str) -> list[CallerKey]:
    """API_KEYS_FILE's lines: a key or its hash, then an optional name."""
    keys = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) > 2:
            raise ValueError(f"line {n}: expected a key or sha256:<hash>, then an optional name")
        keys.append(_caller_key(fields[0], fields[1] if len(fields) == 2 else None, f"line {n}"))
    return keys


def read_api_keys_file(path: Path) -> list[CallerKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    return parse_api_keys_file(text)


def caller_keys(*groups: Iterable[CallerKey]) -> CallerKeys:
    """The keys of every source together; a key or a name given twice is a mistake."""
    keys: list[CallerKey] = []
    for key in (key for group in groups for key in group):
        if any(key.digest == seen.digest for seen in keys):
            raise ValueError(f"the key {key.id} is listed twice")
        if any(key.id == seen.id for seen in keys):
            raise ValueError(f"the name {key.id} is given to two keys")
        keys.append(key)
    return CallerKeys(keys)


def configured_keys(api_keys: str | None, api_keys_file: Path | None) -> CallerKeys:
    """The keys of API_KEYS and API_KEYS_FILE together."""
    return caller_keys(
        parse_api_keys(api_keys) if api_keys else [],
        read_api_keys_file(api_keys_file) if api_keys_file else [],
    )


def _caller_key(entry: str, name: str | None, where: str) -> CallerKey:
    if name is not None and not _NAME.match(name):
        raise ValueError(f"{where}: a name is 1 to 64 letters, digits, '.', '_' or '-'")
    if entry.lower().startswith(HASH_PREFIX):
        hex_digits = entry[len(HASH_PREFIX) :]
        if not _HASH_HEX.match(hex_digits):
            raise ValueError(f"{where}: {HASH_PREFIX} must be followed by 64 hex digits")
        digest = bytes.fromhex(hex_digits)
    else:
        if len(entry) < MIN_KEY_CHARS:
            raise ValueError(f"{where}: a key needs at least {MIN_KEY_CHARS} characters")
        if not _KEY.match(entry):
            raise ValueError(f"{where}: a key is printable ASCII without spaces or commas")
        digest = hashlib.sha256(entry.encode()).digest()
    return CallerKey(id=name or HASH_PREFIX + digest.hex()[:_ID_HEX_DIGITS], digest=digest)
