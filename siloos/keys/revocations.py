"""Revoked key ids: the `RevocationCheck` the verifier asks, and where revocations live.

Owns the `revoked(jti TEXT PRIMARY KEY, task_id, hop, reason, revoked_at)` table in
`.silo/state.db` (`SqliteRevocations`) and an in-memory test double side by side
(`InMemoryRevocations`). The state store may share this exact table; the schema here is the
contract between them. Reasons are free text from the operator or router and must not
carry personal data (the router writes statuses, not customer words).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from siloos.errors import InputError, SiloError
from siloos.keys.claims import JTI_PATTERN

MAX_REASON_CHARS = 500

SCHEMA = """CREATE TABLE IF NOT EXISTS revoked (
    jti TEXT PRIMARY KEY,
    task_id TEXT,
    hop INTEGER,
    reason TEXT,
    revoked_at TEXT
)"""


class RevocationStoreError(SiloError):
    """The revocation table cannot be read or written (exit 2)."""


@runtime_checkable
class RevocationCheck(Protocol):
    """What the verifier needs: is this jti revoked? Implementations fail closed by raising."""

    def is_revoked(self, jti: str) -> bool: ...


@runtime_checkable
class RevocationStore(RevocationCheck, Protocol):
    """A RevocationCheck that also records revocations (`silo keys revoke`, hop end)."""

    def revoke(self, jti: str, *, task_id: str | None = None, hop: int | None = None,
               reason: str = "") -> bool: ...


@dataclass(frozen=True)
class Revocation:
    """One row of the revoked table."""

    jti: str
    task_id: str | None
    hop: int | None
    reason: str
    revoked_at: str


def check_jti(jti: str) -> str:
    """A jti as `silo keys revoke` accepts it: the characters we mint, 8..128 of them."""
    if not isinstance(jti, str) or not JTI_PATTERN.match(jti):
        raise InputError(f"not a key id (jti): {jti!r}; expected 8-128 of [A-Za-z0-9_-]")
    return jti


def _clean_reason(reason: str) -> str:
    # One line, bounded: it is shown in `silo show` and audit output.
    return " ".join(str(reason).split())[:MAX_REASON_CHARS]


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class InMemoryRevocations:
    """A RevocationStore held in a dict; the test double for SqliteRevocations."""

    def __init__(self, revoked: dict[str, Revocation] | None = None) -> None:
        self._rows: dict[str, Revocation] = dict(revoked or {})

    def is_revoked(self, jti: str) -> bool:
        return jti in self._rows

    def revoke(self, jti: str, *, task_id: str | None = None, hop: int | None = None,
               reason: str = "") -> bool:
        check_jti(jti)
        if jti in self._rows:
            return False
        self._rows[jti] = Revocation(jti, task_id, hop, _clean_reason(reason), _utc_now())
        return True

    def all(self) -> list[Revocation]:
        return list(self._rows.values())


class SqliteRevocations:
    """A RevocationStore in SQLite (`.silo/state.db`); one short connection per call.

    A connection per call keeps it safe to share between threads and processes (the router,
    the membrane and `silo keys revoke` all touch the same file); WAL lets them overlap.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        with self._connect() as db:
            db.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.parent.is_dir():
            raise RevocationStoreError(f"{self.path.parent}: state folder missing; "
                                       "run `silo init`")
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        except sqlite3.Error as err:
            raise RevocationStoreError(f"{self.path}: cannot open: {err}") from None
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
            yield db
        except sqlite3.Error as err:
            raise RevocationStoreError(f"{self.path}: revocations: {err}") from None
        finally:
            db.close()

    def is_revoked(self, jti: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM revoked WHERE jti = ?", (jti,)).fetchone()
        return row is not None

    def revoke(self, jti: str, *, task_id: str | None = None, hop: int | None = None,
               reason: str = "") -> bool:
        """Record `jti` as revoked; False if it already was (the first record is kept)."""
        check_jti(jti)
        with self._connect() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO revoked (jti, task_id, hop, reason, revoked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (jti, task_id, hop, _clean_reason(reason), _utc_now()))
            return cur.rowcount == 1

    def get(self, jti: str) -> Revocation | None:
        with self._connect() as db:
            row = db.execute("SELECT jti, task_id, hop, reason, revoked_at FROM revoked "
                             "WHERE jti = ?", (jti,)).fetchone()
        return None if row is None else Revocation(*row)

    def all(self) -> list[Revocation]:
        with self._connect() as db:
            rows = db.execute("SELECT jti, task_id, hop, reason, revoked_at FROM revoked "
                              "ORDER BY revoked_at, jti").fetchall()
        return [Revocation(*row) for row in rows]
