"""A cache of hot store reads that is exactly as fresh as the database itself.

The membrane asks, on every request, whether the task key and base key are revoked and
whether the hop is still active. Those answers change only when someone commits: this
store (the router revoking at hop end), another connection of this process (the vault),
or another process (`silo keys revoke JTI` through `SqliteRevocations`). `ReadCache`
keeps answers while a *stamp* stays the same, and drops them all the moment it changes:

- SQLite's `PRAGMA data_version` on the store's connection, which changes whenever any
  *other* connection (in this process or another) has committed since the last look;
- the store's own write generation, bumped by every state-changing transaction on the
  store's connection (SQLite does not report a connection's own commits to itself).

Reading the stamp is one cheap pragma, so a revocation made anywhere takes effect on the
very next request, as it did when every check was a query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable
from typing import Any

#: Entries kept before the cache is simply emptied (keys are per task, hop or key id).
MAX_ENTRIES = 4096

_MISSING = object()


class ReadCache:
    """Answers keyed by anything hashable, valid for one database stamp.

    Not thread-safe on its own: the store calls it under its lock, and never while its
    connection is inside a transaction (a transaction may see its own uncommitted writes,
    which must never be remembered as the database's state).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[Hashable, Any] = {}
        self._changes = 0

    def refresh(self, generation: int) -> None:
        """Check the stamp; forget everything if anything was committed since."""
        stamp = (self._conn.execute("PRAGMA data_version").fetchone()[0], generation)
        if stamp != self._stamp:
            self._changes += 1
        if stamp != self._stamp or len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._stamp = stamp

    @property
    def changes(self) -> int:
        """How many looks found the database changed since the look before (by another
        connection's commit or the store's own state change): a cheap "did anything
        change?" for callers that look right after `refresh`.

        Asked while the connection is inside a transaction, it moves every time: the
        store makes no look then (`refresh` is skipped), so commits made elsewhere since
        the last look would go unseen, and an unchanged number would vouch for them."""
        if self._conn.in_transaction:
            self._changes += 1
        return self._changes

    def get(self, key: Hashable) -> Any:
        """The remembered answer, or `MISSING`."""
        return self._entries.get(key, _MISSING)

    def put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()
        self._stamp = None


MISSING = _MISSING
