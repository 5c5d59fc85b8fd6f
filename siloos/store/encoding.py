"""How values are written into state.db: canonical JSON, UTC timestamps, and the guard.

Every text the store writes (JSON columns and free-text columns alike) passes through
`Encoder.text`, which runs the injected plaintext guard first. The guard is a callable
`check(text) -> None` that raises when it sees personal data (the privacy package
provides the detector); with no guard, text is written as given, because callers are
required to tokenize before they call the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from siloos.store.errors import PlaintextRefused, StoreError

#: A detector hook: raises (any exception) when `text` holds plaintext personal data.
PlaintextGuard = Callable[[str], None]


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with microseconds, e.g. `2025-01-02T03:04:05.678901Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no NaN, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


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
        try:
            text = dumps(value)
        except (TypeError, ValueError) as err:
            raise StoreError(f"cannot store {where}: not JSON-serialisable ({err})") from None
        return self.check(where, text)

    def optional_json(self, where: str, value: Any) -> str | None:
        return None if value is None else self.json(where, value)

    def optional_text(self, where: str, value: str | None) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise StoreError(f"cannot store {where}: expected text, got {type(value).__name__}")
        return self.check(where, value)
