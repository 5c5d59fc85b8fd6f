"""The rows the store hands around: an audit record to write, an exit result it recorded.

Their own module so that the store and its journal share them without importing each other
at call time. Named tuples: the membrane makes one of each on every call, and a frozen
dataclass costs several times as much to build.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from siloos.store.errors import HopConflict


class AuditRecord(NamedTuple):
    """One audit row (a membrane request or refusal), to be written with another write.
    (A named tuple, like `StoredExitResult`: every request makes one, and a frozen
    dataclass costs several times as much to build.)"""

    task_id: str | None
    hop: int | None
    op: str
    tool: str | None = None
    ok: bool = False
    code: int | None = None
    reason: str | None = None
    detail: Any = None


class StoredExitResult(NamedTuple):
    """An exit call already performed, found by its idempotency key."""

    idempotency_key: str
    task_id: str
    hop: int
    seq: int
    tool: str
    result: Any
    at: str
    #: The stored text of `result` (canonical JSON), so a reply can be built from it
    #: without encoding the value again.
    result_json: str | None = None


def same_call_or_conflict(stored: StoredExitResult, task_id: str, hop: int, seq: int,
                          tool: str) -> None:
    """HopConflict unless `stored` was recorded for this very call (task, hop, seq, tool):
    an idempotency key reused for another call must never answer it."""
    if (stored.task_id, stored.hop, stored.seq, stored.tool) != (task_id, hop, seq, tool):
        raise HopConflict(f"idempotency key {stored.idempotency_key!r} was used for another "
                          "call")
