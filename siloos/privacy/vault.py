"""The vault: tokens mapped to AES-GCM-encrypted real values, one opaque scope per customer.

Owns the `vault_scopes` and `vault_entries` tables on the state database connection it is
given. What it stores, and why each choice:

- the scope is HMAC(token.secret, customer id): the raw customer id is never stored;
- the token id is HMAC(token.secret, scope | kind | normalized value), 80 bits in base32:
  the same value in the same scope always gets the same token, another scope gets an
  unrelated one, and no one without the secret can derive a token from a value (or guess one);
- the value is AES-GCM encrypted under `vault.key` with a random 96-bit nonce and the
  associated data `token|scope`, so a ciphertext moved to another row fails to decrypt;
- nothing else: no plaintext, and the lookup index is the token (an HMAC), not the value.

Several processes may share the database (WAL); a value is inserted with INSERT OR IGNORE
and read back, so concurrent minting of one value converges on one row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siloos.errors import SiloError
from siloos.privacy.keyfiles import (
    TOKEN_SECRET_FILE,
    VAULT_KEY_FILE,
    create_vault_keys,
    read_secret,
)
from siloos.privacy.normalize import normalize
from siloos.privacy.tokens import make_token, token_pattern, token_types

__all__ = [
    "TokenOutOfScope",
    "Vault",
    "VaultIntegrityError",
    "create_vault_keys",
]

NONCE_BYTES = 12
# Parameters per `IN (...)` read-back (SQLite allows 999 in old builds).
_SQL_BATCH = 500
# Scopes whose known_version is remembered before the memory is emptied.
_VERSIONS_KEPT = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vault_scopes (
    scope      TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vault_entries (
    token      TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_entries_scope ON vault_entries(scope);
"""


class TokenOutOfScope(SiloError):
    """A token that is unknown, malformed, or minted for another scope.

    The message never says which: telling them apart would let a cell probe other
    customers' tokens. The membrane maps this to 403.
    """

    exit_code = 1

    def __init__(self) -> None:
        super().__init__("token is not in this task's scope")


class VaultIntegrityError(SiloError):
    """A stored ciphertext failed authentication (tampered or moved row): fail closed."""

    exit_code = 4

    def __init__(self) -> None:
        super().__init__("vault entry failed its integrity check")


def _token_id(digest: bytes) -> str:
    """16 chars of base32 (a-z, 2-7: inside the token alphabet) = 80 bits of the HMAC."""
    return base64.b32encode(digest[:10]).decode("ascii").lower()


class Vault:
    """Tokens ↔ encrypted values in the state database, scoped per customer."""

    def __init__(self, conn: sqlite3.Connection, keys_dir: Path) -> None:
        keys_dir = Path(keys_dir)
        self._conn = conn
        self._aead = AESGCM(read_secret(keys_dir / VAULT_KEY_FILE))
        self._secret = read_secret(keys_dir / TOKEN_SECRET_FILE)
        self._lock = threading.RLock()
        self._minted: set[str] = set()  # tokens this process knows are stored
        # scope -> (highest rowid seen, decrypted entries); plaintext lives in memory only.
        self._known_cache: dict[str, tuple[int, int, list[tuple[str, str, str]]]] = {}
        # known_version: scope -> fingerprint, valid while the table's highest rowid is
        # `_versions_top` (rows are only ever added, each above the highest).
        self._versions: dict[str, tuple[int, int]] = {}
        self._versions_top: int | None = None
        #: Bumped by every insert into `vault_entries` made through this object, before it
        #: returns (committed or not), so a caller can tell this process added a value.
        self.inserted = 0
        with self._lock:
            was = conn.in_transaction
            # executescript would COMMIT a caller's open transaction: one statement at a time.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            self._commit_if_ours(was)

    def _commit_if_ours(self, was_in_transaction: bool) -> None:
        """Commit only a transaction we opened; a caller's open transaction stays theirs."""
        if not was_in_transaction and self._conn.in_transaction:
            self._conn.commit()

    def _mac(self, *parts: str) -> bytes:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.digest(self._secret, message, hashlib.sha256)  # one C call, same MAC

    def scope_for(self, customer_id: str) -> str:
        """The opaque scope of a customer: HMAC of the id, recorded in `vault_scopes`."""
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise SiloError("customer id must be a non-empty string")
        scope = "scp_" + self._mac("scope", customer_id.strip()).hex()[:32]
        with self._lock:
            was = self._conn.in_transaction
            self._conn.execute(
                "INSERT OR IGNORE INTO vault_scopes(scope, created_at) VALUES (?, ?)",
                (scope, time.time()),
            )
            self._commit_if_ours(was)
        return scope

    def token_for(self, value: str, kind: str, scope: str) -> str:
        """The token `value` would get in `scope`, without storing anything."""
        if kind not in token_types():
            raise SiloError(f"unknown token type {kind!r}")
        if not isinstance(value, str):
            raise SiloError("only strings can be tokenized")
        key = normalize(value, kind) or " ".join(value.split())
        token_id = _token_id(self._mac("token", scope, kind, key))
        return make_token(kind, token_id)

    def tokenize(self, value: str, kind: str, scope: str) -> str:
        """Store `value` (encrypted) under its deterministic token in `scope`; return the token."""
        return self.tokenize_many([(value, kind)], scope)[0]

    def tokenize_many(self, items: Sequence[tuple[str, str]], scope: str) -> list[str]:
        """`tokenize` for several (value, kind) pairs, stored in one transaction.

        One INSERT OR IGNORE batch, one read-back and one commit however many values: a
        long text names hundreds of new values, and a commit per value (an fsync on a
        file database) would cost more than finding them. Returns the tokens in order.
        """
        tokens = [self.token_for(value, kind, scope) for value, kind in items]
        fresh: dict[str, tuple] = {}
        for (value, kind), token in zip(items, tokens, strict=True):
            if token in self._minted or token in fresh:
                continue  # rows are never deleted: once stored, always stored
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._aead.encrypt(nonce, value.encode("utf-8"), self._aad(token, scope))
            fresh[token] = (token, scope, kind, nonce, sealed, time.time())
        if not fresh:
            return tokens
        with self._lock:
            was = self._conn.in_transaction
            self.inserted += 1  # before: even a failed insert may have added rows
            self._conn.executemany(
                "INSERT OR IGNORE INTO vault_entries(token, scope, kind, nonce, ciphertext,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                list(fresh.values()),
            )
            self.inserted += 1
            self._commit_if_ours(was)
            stored: dict[str, str] = {}
            batch = list(fresh)
            for at in range(0, len(batch), _SQL_BATCH):
                part = batch[at : at + _SQL_BATCH]
                marks = ",".join("?" * len(part))
                stored.update(self._conn.execute(
                    f"SELECT token, scope FROM vault_entries WHERE token IN ({marks})", part
                ).fetchall())
        if any(stored.get(token) != scope for token in fresh):
            # An 80-bit id collision across scopes; refuse rather than alias two values.
            raise VaultIntegrityError()
        with self._lock:
            self._minted.update(fresh)
        return tokens

    @staticmethod
    def _aad(token: str, scope: str) -> bytes:
        return f"{token}|{scope}".encode()

    def _open(self, token: str, scope: str, nonce: bytes, sealed: bytes) -> str:
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(token, scope)).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise VaultIntegrityError() from None

    def resolve(self, token: str, scope: str) -> str:
        """The real value of `token`, only if it was minted in `scope`."""
        if not isinstance(token, str) or token_pattern().fullmatch(token) is None:
            raise TokenOutOfScope()
        with self._lock:
            row = self._conn.execute(
                "SELECT nonce, ciphertext FROM vault_entries WHERE token = ? AND scope = ?",
                (token, scope),
            ).fetchone()
        if row is None:
            raise TokenOutOfScope()
        return self._open(token, scope, bytes(row[0]), bytes(row[1]))

    def in_scope(self, token: str, scope: str) -> bool:
        """Whether `token` exists in `scope` (no decryption)."""
        if not isinstance(token, str) or token_pattern().fullmatch(token) is None:
            return False
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM vault_entries WHERE token = ? AND scope = ?", (token, scope)
            ).fetchone()
        return row is not None

    def known_values(self, scope: str) -> list[tuple[str, str, str]]:
        """Every (value, kind, token) stored in `scope`, decrypted, oldest first.

        Cached per scope and refreshed when rows are added (by any process).
        """
        with self._lock:
            count, top = self._conn.execute(
                "SELECT count(*), coalesce(max(rowid), 0) FROM vault_entries WHERE scope = ?",
                (scope,),
            ).fetchone()
            cached = self._known_cache.get(scope)
            if cached is not None and cached[0] == count and cached[1] == top:
                return list(cached[2])
            rows = self._conn.execute(
                "SELECT token, kind, nonce, ciphertext FROM vault_entries WHERE scope = ?"
                " ORDER BY rowid",
                (scope,),
            ).fetchall()
            values = [
                (self._open(token, scope, bytes(nonce), bytes(sealed)), kind, token)
                for token, kind, nonce, sealed in rows
            ]
            self._known_cache[scope] = (count, top, values)
            return list(values)

    def known_version(self, scope: str) -> tuple[int, int]:
        """A cheap fingerprint of a scope's entries; changes whenever one is added.

        Asked on every membrane request (and for every string a result holds), so each
        scope's fingerprint is remembered beside the table's highest rowid at the time it
        was counted. Rows are only ever inserted, never changed or deleted, and a new row
        always takes a rowid above the highest, so while that highest rowid stays the
        same no scope has gained an entry, whichever connection or process wrote. Reading
        it is one look down the table's b-tree, however many entries a scope has (the
        count it replaces grows with the scope). Inside an open transaction nothing is
        remembered: it may see rows that are later rolled back.
        """
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                return self._count_known(scope)
            top = conn.execute("SELECT max(rowid) FROM vault_entries").fetchone()[0]
            if top != self._versions_top or len(self._versions) >= _VERSIONS_KEPT:
                self._versions.clear()
                self._versions_top = top
            version = self._versions.get(scope)
            if version is None:
                version = self._versions[scope] = self._count_known(scope)
            return version

    def _count_known(self, scope: str) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT count(*), coalesce(max(rowid), 0) FROM vault_entries WHERE scope = ?",
            (scope,),
        ).fetchone()
        return int(row[0]), int(row[1])
