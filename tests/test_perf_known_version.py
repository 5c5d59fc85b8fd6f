"""`Vault.known_version` is remembered, yet changes the moment any scope gains an entry.

Whoever adds the entry: this vault, another vault on the same connection, another
connection, another process. An entry added inside a transaction that is rolled back
leaves no remembered fingerprint behind. Correctness only: no timings.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from siloos.privacy.keyfiles import create_vault_keys
from siloos.privacy.vault import Vault
from siloos.store import StateStore


@pytest.fixture
def world(tmp_path):
    keys = tmp_path / "keys"
    create_vault_keys(keys)
    store = StateStore.open(tmp_path / "state.db")
    vault = Vault(store.conn, keys)
    scope = vault.scope_for("C-1")
    vault.tokenize("Ann Example", "name", scope)
    yield store, vault, scope, keys, tmp_path / "state.db"
    store.close()


def test_unchanged_while_nothing_is_added_even_as_other_tables_commit(world):
    store, vault, scope, _, _ = world
    first = vault.known_version(scope)
    task_id = store.create_task(agent="a", state="running")
    store.audit(task_id, 1, op="call", ok=True)  # another connection commits
    assert vault.known_version(scope) == first == (1, first[1])


def test_changes_when_this_vault_adds_a_value(world):
    _, vault, scope, _, _ = world
    before = vault.known_version(scope)
    vault.tokenize("ann@example.com", "email", scope)
    after = vault.known_version(scope)
    assert after != before and after[0] == before[0] + 1


def test_changes_when_another_vault_on_the_same_connection_adds(world):
    store, vault, scope, keys, _ = world
    before = vault.known_version(scope)
    Vault(store.conn, keys).tokenize("+61 2 9876 5432", "phone", scope)
    assert vault.known_version(scope)[0] == before[0] + 1


def test_changes_when_another_connection_adds(world):
    _, vault, scope, keys, path = world
    before = vault.known_version(scope)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        Vault(other, keys).tokenize("12 Example Street", "addr", scope)
    finally:
        other.close()
    assert vault.known_version(scope)[0] == before[0] + 1


def test_changes_when_another_process_adds(world):
    _, vault, scope, keys, path = world
    before = vault.known_version(scope)
    script = textwrap.dedent(f"""
        import sqlite3
        from pathlib import Path
        from siloos.privacy.vault import Vault
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        Vault(conn, Path({str(keys)!r})).tokenize("Bob Other", "name", {scope!r})
        conn.close()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert vault.known_version(scope)[0] == before[0] + 1


def test_another_scope_gaining_an_entry_leaves_this_fingerprint_equal(world):
    _, vault, scope, _, _ = world
    before = vault.known_version(scope)
    other = vault.scope_for("C-2")
    other_before = vault.known_version(other)
    vault.tokenize("Carol Third", "name", other)
    assert vault.known_version(scope) == before
    assert vault.known_version(other)[0] == other_before[0] + 1


def test_an_entry_rolled_back_is_never_remembered(world):
    _, vault, scope, _, _ = world
    before = vault.known_version(scope)
    conn = vault._conn
    conn.execute("BEGIN IMMEDIATE")
    vault.tokenize("Dora Rolled", "name", scope)
    assert vault.known_version(scope)[0] == before[0] + 1  # seen inside, not remembered
    conn.execute("ROLLBACK")
    assert vault.known_version(scope) == before
    vault.tokenize("Eve Kept", "name", scope)
    assert vault.known_version(scope)[0] == before[0] + 1


def test_answers_match_a_plain_count_after_many_changes(world):
    _, vault, scope, _, _ = world
    for number in range(12):
        vault.tokenize(f"Person Number{number}", "name", scope)
        count, top = vault._conn.execute(
            "SELECT count(*), coalesce(max(rowid), 0) FROM vault_entries WHERE scope = ?",
            (scope,)).fetchone()
        assert vault.known_version(scope) == (count, top)
