"""How values are written into state.db: canonical JSON, UTC timestamps, and the guard.

Every text the store writes (JSON columns and free-text columns alike) passes through
`Encoder.check`, which runs the injected plaintext guard first. The guard is a callable
`check(text) -> None` that raises when it sees personal data (the privacy package
provides the detector); a guard that also has `check_json(value, text)` is given the
value of a JSON column too, so that it need not decode the text it is about to check.
With no guard, text is written as given, because callers are required to tokenize
before they call the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from siloos.store.errors import PlaintextRefused, StoreError

#: A detector hook: raises (any exception) when `text` holds plaintext personal data.
PlaintextGuard = Callable[[str], None]


#: The whole-second part of the last timestamp made: (epoch second, its text).
_last_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with microseconds, e.g. `2025-01-02T03:04:05.678901Z`.

    Every audit row takes one, so the date and time of day are formatted once per second
    and only the microseconds each time (same text as `strftime`, a fifth of the cost)."""
    global _last_second
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    known, text = _last_second
    if second != known:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)  # one tuple: threads never see half an update
    return f"{text}.{fraction:06d}Z"


#: One encoder for every canonical text (`json.dumps` with options builds a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

# orjson writes the common case several times faster (every membrane request encodes a few
# values). It is asked only for what it encodes exactly as we mean it: values made of exact
# builtin JSON types (str-keyed dicts, lists, tuples, str, int, bool, None, finite floats),
# which `_exact` checks first. orjson would also write, without calling `default`, what the
# standard encoder refuses: enums (as their value, which the tokenizer never saw as a
# string), UUIDs and `orjson.Fragment` (raw text), and NaN or infinity (as null). The
# passthrough options and `_not_plain` are a second line for the subclasses, dataclasses
# and datetimes `_exact` already turns away. No integer beyond 64 bits (orjson refuses
# those). Everything else falls back to the standard encoder, which decides as it always
# did. Its floats are spelled the shortest way (1e16, not 1e+16): the same number either way.
_FAST_OPTIONS = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
                 | orjson.OPT_PASSTHROUGH_DATETIME)
_FAST_CANONICAL = _FAST_OPTIONS | orjson.OPT_SORT_KEYS
#: Deeper than this is left to the standard encoder (orjson's own limit is 255 levels);
#: it also ends the walk of a value that contains itself.
_FAST_DEPTH = 64


def _not_plain(value: Any) -> Any:
    raise TypeError("left to the standard encoder")


def _exact(value: Any, depth: int = 0) -> bool:
    """Whether `value` is made only of exact JSON types with finite floats."""
    kind = type(value)
    if kind is dict:
        if depth >= _FAST_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            sort = type(item)
            if sort is str or sort is int or sort is bool or item is None:
                continue
            if sort is float:
                if item - item != 0.0:  # NaN or infinity
                    return False
            elif not _exact(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        if depth >= _FAST_DEPTH:
            return False
        for item in value:
            sort = type(item)
            if sort is str or sort is int or sort is bool or item is None:
                continue
            if sort is float:
                if item - item != 0.0:
                    return False
            elif not _exact(item, depth + 1):
                return False
        return True
    if kind is str or kind is int or kind is bool or value is None:
        return True
    return kind is float and value - value == 0.0


def _fast(value: Any, options: int) -> str | None:
    if not _exact(value):
        return None
    try:
        data = orjson.dumps(value, default=_not_plain, option=options)
    except TypeError:  # orjson.JSONEncodeError is one: an integer beyond 64 bits, a surrogate
        return None
    return data.decode()


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no NaN, UTF-8 kept as is."""
    text = _fast(value, _FAST_CANONICAL)
    return text if text is not None else _CANONICAL.encode(value)


def compact(value: Any, *, floats: bool = True) -> str:
    """Compact JSON in the value's own key order: no NaN, UTF-8 kept as is. (`floats` is
    no longer needed: NaN and infinity are found by type, whatever the caller promises.)"""
    del floats
    text = _fast(value, _FAST_OPTIONS)
    return text if text is not None else _COMPACT.encode(value)


class CanonicalJson:
    """A value together with its canonical JSON text (`dumps`), made once.

    A caller that must encode a value anyway (the membrane checks an exit's result is
    serializable before it records it, then sends it) hands the store this instead of the
    bare value, so the text stored, and the text the reply is built from, is encoded once.
    Only `canonical()` makes one, so `text` is always `dumps(value)`.
    """

    __slots__ = ("text", "value")

    def __init__(self, value: Any, text: str) -> None:
        self.value = value
        self.text = text


def canonical(value: Any) -> CanonicalJson:
    """`value` with its canonical text; TypeError/ValueError when it is not JSON."""
    return CanonicalJson(value, dumps(value))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Encoder:
    """Turns values into the text the store writes, checking each with the guard."""

    def __init__(self, guard: PlaintextGuard | None = None) -> None:
        self.guard = guard

    def check(self, where: str, text: str) -> str:
        if self.guard is not None and text:
            try:
                self.guard(text)
            except Exception as err:  # any complaint from the guard refuses
                # The guard's own message may quote the value it found; keep it out of
                # the error text (which can end up in logs) and chain it for --debug only.
                raise PlaintextRefused(
                    f"refusing to store plaintext personal data in {where} "
                    f"({type(err).__name__})") from err
        return text

    def json(self, where: str, value: Any) -> str:
        """`value`'s canonical text, checked by the guard. A `CanonicalJson` is checked by
        its text, which is what is stored: its value may have been changed since the text
        was made (it is the caller's, and mutable), so it cannot stand in for the text."""
        if isinstance(value, CanonicalJson):
            return self.check(where, value.text)
        try:
            text = dumps(value)
        except (TypeError, ValueError) as err:
            raise StoreError(f"cannot store {where}: not JSON-serialisable ({err})") \
                from None
        check_json = getattr(self.guard, "check_json", None)
        if check_json is None or not text:
            return self.check(where, text)
        # A guard that can check the value itself (siloos.privacy.guard.StoreHook) saves
        # decoding the text it would otherwise walk.
        try:
            check_json(value, text)
        except Exception as err:  # any complaint from the guard refuses
            raise PlaintextRefused(
                f"refusing to store plaintext personal data in {where} "
                f"({type(err).__name__})") from err
        return text

    def optional_json(self, where: str, value: Any) -> str | None:
        return None if value is None else self.json(where, value)

    def optional_text(self, where: str, value: str | None) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise StoreError(f"cannot store {where}: expected text, got {type(value).__name__}")
        return self.check(where, value)
