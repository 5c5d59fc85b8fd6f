"""Vault: keys on disk, encryption at rest, scopes, tamper detection, concurrency."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from siloos.errors import SiloError, UsageError
from siloos.privacy.tokens import TOKEN_RE
from siloos.privacy.vault import TokenOutOfScope, Vault, VaultIntegrityError, create_vault_keys

CANARIES = {
    "email": "Canary.Person@example-canary.org",
    "phone": "+61 491 570 156",
    "card": "4111 1111 1111 1111",
    "name": "Zebulon Canarywood",
    "addr": "42 Canary Lane, Wollongong NSW 2500",
}


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    create_vault_keys(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def open_vault(db: Path, keys: Path) -> tuple[sqlite3.Connection, Vault]:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn, Vault(conn, keys)


def test_create_vault_keys_modes_and_refusal(tmp_path: Path) -> None:
    keys = tmp_path / "nested" / "keys"
    create_vault_keys(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for name in ("vault.key", "token.secret"):
        path = keys / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_bytes()) == 32
    assert (keys / "vault.key").read_bytes() != (keys / "token.secret").read_bytes()
    before = (keys / "vault.key").read_bytes()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        create_vault_keys(keys)
    assert (keys / "vault.key").read_bytes() == before


def test_vault_refuses_world_readable_key(keys: Path, db: Path) -> None:
    os.chmod(keys / "vault.key", 0o644)
    with pytest.raises(SiloError, match="0600"):
        Vault(sqlite3.connect(db), keys)


def test_vault_refuses_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(SiloError, match="missing"):
        Vault(sqlite3.connect(":memory:"), tmp_path / "nothing")


def test_scope_is_opaque_and_stable(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    scope = vault.scope_for("CUST-000123")
    assert scope == vault.scope_for("CUST-000123")
    assert scope != vault.scope_for("CUST-000124")
    assert "000123" not in scope
    stored = [row[0] for row in conn.execute("SELECT scope FROM vault_scopes")]
    assert scope in stored
    assert not any("CUST-000123" in s for s in stored)


def test_tokens_consistent_within_scope_and_differ_across(keys: Path, db: Path) -> None:
    _, vault = open_vault(db, keys)
    a, b = vault.scope_for("A"), vault.scope_for("B")
    t1 = vault.tokenize("Ann@Example.com", "email", a)
    assert t1 == vault.tokenize("  ann@example.com ", "email", a)
    assert t1 != vault.tokenize("ann@example.com", "email", b)
    assert vault.tokenize("0412 345 678", "phone", a) == vault.tokenize("0412-345-678", "phone", a)
    assert vault.tokenize("4111-1111-1111-1111", "card", a) == vault.tokenize(
        "4111 1111 1111 1111", "card", a
    )
    assert vault.tokenize("Ann  LEE", "name", a) == vault.tokenize("ann lee", "name", a)
    assert TOKEN_RE.fullmatch(t1) and t1.startswith("email_tk_")
    assert len(t1.split("_tk_")[1]) >= 12


def test_tokens_not_derivable_without_secret(tmp_path: Path) -> None:
    """Two workspaces (two secrets) give unrelated scopes and tokens for the same input."""
    create_vault_keys(tmp_path / "k1")
    create_vault_keys(tmp_path / "k2")
    v1 = Vault(sqlite3.connect(":memory:"), tmp_path / "k1")
    v2 = Vault(sqlite3.connect(":memory:"), tmp_path / "k2")
    assert v1.scope_for("C1") != v2.scope_for("C1")
    t1 = v1.tokenize("x@y.com", "email", v1.scope_for("C1"))
    t2 = v2.tokenize("x@y.com", "email", v2.scope_for("C1"))
    assert t1 != t2


def test_resolve_round_trip_and_refusals(keys: Path, db: Path) -> None:
    _, vault = open_vault(db, keys)
    a, b = vault.scope_for("A"), vault.scope_for("B")
    token = vault.tokenize("Ann@Example.com", "email", a)
    assert vault.resolve(token, a) == "Ann@Example.com"
    refusals = [
        (token, b),  # other scope
        (token.upper(), a),  # near-miss: case
        (token.replace("_tk_", "-tk-"), a),  # near-miss: separator
        (token[:-1], a),  # near-miss: truncated (still >= 12 chars, unknown)
        (token + "x", a),  # unknown id
        ("email_tk_" + "0" * 16, a),  # well-formed, never minted
        (token.replace("email", "phone"), a),  # right id, wrong type
        ("", a),
    ]
    messages = set()
    for bad, scope in refusals:
        with pytest.raises(TokenOutOfScope) as info:
            vault.resolve(bad, scope)
        messages.add(str(info.value))
    assert len(messages) == 1  # the refusals are indistinguishable


def checkpointed_bytes(conn: sqlite3.Connection, db: Path) -> bytes:
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = db.read_bytes()
    for suffix in ("-wal", "-shm", "-journal"):
        extra = Path(str(db) + suffix)
        if extra.exists():
            data += extra.read_bytes()
    return data


def test_no_plaintext_in_database_file(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    scope = vault.scope_for("CUST-CANARY-77")
    for kind, value in CANARIES.items():
        vault.tokenize(value, kind, scope)
    vault.known_values(scope)
    raw_before = checkpointed_bytes(conn, db)
    conn.execute("VACUUM")
    raw_after = checkpointed_bytes(conn, db)
    needles = [v.encode() for v in CANARIES.values()]
    needles += [v.lower().encode() for v in CANARIES.values()]
    needles += [b"4111111111111111", b"61491570156", b"491570156", b"Canarywood", b"Canary.Person"]
    needles += [b"CUST-CANARY-77", "Zebulon".encode("utf-16-le")]
    for raw in (raw_before, raw_after):
        for needle in needles:
            assert needle not in raw, needle


def test_tampered_ciphertext_fails_closed(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    scope = vault.scope_for("A")
    token = vault.tokenize("secret value", "name", scope)
    (sealed,) = conn.execute(
        "SELECT ciphertext FROM vault_entries WHERE token = ?", (token,)
    ).fetchone()
    flipped = bytearray(sealed)
    flipped[0] ^= 0x01
    conn.execute("UPDATE vault_entries SET ciphertext = ? WHERE token = ?", (bytes(flipped), token))
    conn.commit()
    with pytest.raises(VaultIntegrityError):
        vault.resolve(token, scope)
    with pytest.raises(VaultIntegrityError):
        Vault(conn, keys).known_values(scope)


def test_swapped_rows_are_refused(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    scope = vault.scope_for("A")
    t1 = vault.tokenize("first@example.com", "email", scope)
    t2 = vault.tokenize("second@example.com", "email", scope)
    query = "SELECT nonce, ciphertext FROM vault_entries WHERE token=?"
    row1 = conn.execute(query, (t1,)).fetchone()
    conn.execute("UPDATE vault_entries SET nonce=?, ciphertext=? WHERE token=?", (*row1, t2))
    conn.commit()
    assert vault.resolve(t1, scope) == "first@example.com"
    with pytest.raises(VaultIntegrityError):
        vault.resolve(t2, scope)


def test_moved_row_to_other_scope_is_refused(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    a, b = vault.scope_for("A"), vault.scope_for("B")
    token = vault.tokenize("moved@example.com", "email", a)
    conn.execute("UPDATE vault_entries SET scope=? WHERE token=?", (b, token))
    conn.commit()
    with pytest.raises(VaultIntegrityError):
        vault.resolve(token, b)
    with pytest.raises(TokenOutOfScope):
        vault.resolve(token, a)


def test_known_values_and_cache_refresh_across_connections(keys: Path, db: Path) -> None:
    _, v1 = open_vault(db, keys)
    _, v2 = open_vault(db, keys)
    scope = v1.scope_for("A")
    t = v1.tokenize("Ann Lee", "name", scope)
    assert v2.known_values(scope) == [("Ann Lee", "name", t)]
    t2 = v1.tokenize("ann@example.com", "email", scope)
    assert [x[2] for x in v2.known_values(scope)] == [t, t2]
    # the same value minted by the other process converges on the same row
    assert v2.tokenize("ANN@example.com", "email", scope) == t2
    assert len(v1.known_values(scope)) == 2


def test_caller_transaction_is_left_open(keys: Path, db: Path) -> None:
    conn, vault = open_vault(db, keys)
    conn.execute("CREATE TABLE other(x)")
    conn.commit()
    conn.execute("INSERT INTO other VALUES (1)")
    assert conn.in_transaction
    vault.tokenize("a@b.co", "email", vault.scope_for("A"))
    assert conn.in_transaction  # we did not commit the caller's work
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM other").fetchone()[0] == 0


def test_unknown_kind_refused(keys: Path, db: Path) -> None:
    _, vault = open_vault(db, keys)
    with pytest.raises(SiloError, match="unknown token type"):
        vault.tokenize("x", "passport", vault.scope_for("A"))
