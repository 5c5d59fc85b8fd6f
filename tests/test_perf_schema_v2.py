"""Schema v2: `audit` ids without AUTOINCREMENT, `exit_calls` WITHOUT ROWID, upgraded in place.

A database made by schema v1 (with rows) is opened by today's store: every row survives
with its id, new audit ids continue after the highest, idempotent results are still found
and still refuse a conflicting record, and the tables have their new shape. A fresh
database gets the same shape.
"""

from __future__ import annotations

import sqlite3

import pytest

from siloos.store import AuditRecord, HopConflict, StateStore
from siloos.store.encoding import canonical, utc_now
from siloos.store.schema import LATEST, V1, _statements


def table_sql(conn: sqlite3.Connection, name: str) -> str:
    return conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone()[0]


def make_v1_database(path) -> None:
    """A state.db exactly as schema v1 left it, with a task, audit rows and a result."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                 "applied_at TEXT NOT NULL)")
    for statement in _statements(V1):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?)", (utc_now(),))
    now = utc_now()
    conn.execute("INSERT INTO tasks (task_id, state, agent, channel, input_json, created_at,"
                 " updated_at) VALUES ('tsk_old', 'running', 'a', 'cli', '{}', ?, ?)",
                 (now, now))
    for number in (1, 2, 7):  # a gap, as AUTOINCREMENT can leave
        conn.execute("INSERT INTO audit (id, task_id, hop, op, ok, code, reason, at) "
                     "VALUES (?, 'tsk_old', 1, 'call', 1, 200, 'ok', ?)", (number, now))
    conn.execute("INSERT INTO exit_calls VALUES ('tsk_old/1/1', 'tsk_old', 1, 1, 'orders.get',"
                 " '{\"status\":\"shipped\"}', ?)", (now,))
    conn.close()


def test_v1_database_is_upgraded_in_place_keeping_every_row(tmp_path):
    path = tmp_path / "state.db"
    make_v1_database(path)
    with StateStore.open(path) as store:
        conn = store.conn
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations "
                                               "ORDER BY version")]
        assert versions == list(range(1, LATEST + 1)) and LATEST >= 2
        assert [e["id"] for e in store.audit_events("tsk_old")] == [1, 2, 7]
        new_id = store.audit("tsk_old", 1, op="note", ok=True)
        assert new_id == 8  # after the highest, as before
        found = store.lookup_exit_result("tsk_old/1/1")
        assert found is not None and found.result == {"status": "shipped"}
        assert found.result_json == '{"status":"shipped"}'
        with pytest.raises(HopConflict):
            store.record_exit_result("tsk_old/1/1", task_id="tsk_old", hop=1, seq=1,
                                     tool="refunds.issue", result={})
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'")}
        assert "audit_task" in indexes


@pytest.mark.parametrize("upgraded", [False, True])
def test_tables_have_the_v2_shape(tmp_path, upgraded):
    path = tmp_path / "state.db"
    if upgraded:
        make_v1_database(path)
    with StateStore.open(path) as store:
        conn = store.conn
        audit_sql = table_sql(conn, "audit")
        assert "AUTOINCREMENT" not in audit_sql.upper()
        assert "id          INTEGER PRIMARY KEY" in audit_sql
        assert table_sql(conn, "exit_calls").rstrip().upper().endswith("WITHOUT ROWID")
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_v2'").fetchall()
        store.audit(None, None, op="frame", ok=False, code=400, reason="bad")
        sequence = conn.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'"
                                ).fetchone()
        if sequence is not None:  # events still uses AUTOINCREMENT; audit never appears
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_sequence")]
            assert "audit" not in names
        # The foreign key from exit_calls to tasks survived the rebuild.
        assert conn.execute("PRAGMA foreign_key_list(exit_calls)").fetchall()[0][2] == "tasks"


def test_reopening_an_upgraded_database_changes_nothing(tmp_path):
    path = tmp_path / "state.db"
    make_v1_database(path)
    StateStore.open(path).close()
    with StateStore.open(path) as store:
        rows = store.conn.execute("SELECT version FROM schema_migrations").fetchall()
        assert len(rows) == LATEST
        assert [e["id"] for e in store.audit_events("tsk_old")] == [1, 2, 7]


def test_recorded_result_text_is_the_canonical_text_and_is_replied_from(tmp_path):
    with StateStore.open(tmp_path / "state.db") as store:
        task_id = store.create_task(agent="a", state="running")
        value = {"b": [1, 2.5, None], "a": "é"}
        encoded = canonical(value)
        stored = store.record_exit_result(f"{task_id}/1/1", task_id=task_id, hop=1, seq=1,
                                          tool="t", result=encoded,
                                          audit=AuditRecord(task_id, 1, "call", "t", ok=True))
        assert stored.result_json == '{"a":"é","b":[1,2.5,null]}' == encoded.text
        assert stored.result is value
        again = store.lookup_exit_result(f"{task_id}/1/1")
        assert again.result == value and again.result_json == encoded.text


def test_a_canonical_result_still_passes_the_plaintext_guard(tmp_path):
    def guard(text: str) -> None:
        if "secret" in text:
            raise ValueError("plaintext")

    with StateStore.open(tmp_path / "state.db", guard=guard) as store:
        task_id = store.create_task(agent="a", state="running")
        with pytest.raises(Exception, match="plaintext"):
            store.record_exit_result(f"{task_id}/1/1", task_id=task_id, hop=1, seq=1,
                                     tool="t", result=canonical({"x": "secret"}))
        assert store.lookup_exit_result(f"{task_id}/1/1") is None
