"""Revocations: the SQLite table in state.db and its in-memory double behave the same."""

from __future__ import annotations

import sqlite3

import pytest

from siloos.errors import InputError
from siloos.keys.revocations import (
    InMemoryRevocations,
    RevocationStore,
    RevocationStoreError,
    SqliteRevocations,
)

JTI = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SqliteRevocations(tmp_path / "state.db")
    return InMemoryRevocations()


def test_revoke_and_check(store):
    assert isinstance(store, RevocationStore)
    assert not store.is_revoked(JTI)
    assert store.revoke(JTI, task_id="task_1", hop=0, reason="hop\nended") is True
    assert store.is_revoked(JTI)
    assert store.revoke(JTI, reason="again") is False
    [row] = store.all()
    assert (row.jti, row.task_id, row.hop, row.reason) == (JTI, "task_1", 0, "hop ended")
    assert row.revoked_at.endswith("Z")


@pytest.mark.parametrize("jti", ["", "short", "a b c d e f g h", "../../etc/passwd",
                                 "x" * 129, "ключключключ"])
def test_bad_jti_refused(store, jti):
    with pytest.raises(InputError):
        store.revoke(jti)
    assert store.all() == []


def test_table_schema_is_the_shared_contract(tmp_path):
    path = tmp_path / "state.db"
    SqliteRevocations(path).revoke(JTI)
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(revoked)")]
    assert cols == ["jti", "task_id", "hop", "reason", "revoked_at"]
    # a second instance (another process) sees the same revocation
    assert SqliteRevocations(path).is_revoked(JTI)


def test_missing_state_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RevocationStoreError, match="silo init"):
        SqliteRevocations(tmp_path / "missing" / "state.db")
