"""state.db: WAL mode, the table layout other packages rely on, migrations, bad files."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from siloos.store import StateDatabaseError, StateStore
from siloos.store.schema import LATEST


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_open_creates_wal_database_with_private_mode(tmp_path):
    path = tmp_path / ".silo" / "state.db"
    store = StateStore.open(path)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.close()


def test_tables_have_the_agreed_columns(tmp_path):
    with StateStore.open(tmp_path / "state.db") as store:
        conn = store.conn
        assert columns(conn, "tasks") == [
            "task_id", "state", "agent", "workflow", "channel", "customer_scope",
            "customer_token", "case_token", "input_json", "reason", "created_at", "updated_at"]
        assert columns(conn, "hops") == [
            "task_id", "hop", "agent", "status", "summary_json", "output_json", "redirect",
            "key_jti", "started_at", "ended_at", "stdout", "stderr"]
        assert columns(conn, "events") == ["id", "task_id", "hop", "kind", "data_json", "at"]
        assert columns(conn, "audit") == [
            "id", "task_id", "hop", "op", "tool", "ok", "code", "reason", "detail_json", "at"]
        # Shared with siloos.keys.revocations: exactly this shape.
        assert columns(conn, "revoked") == ["jti", "task_id", "hop", "reason", "revoked_at"]
        pk = [r[1] for r in conn.execute("PRAGMA table_info(revoked)") if r[5]]
        assert pk == ["jti"]
        assert columns(conn, "llm_usage") == [
            "task_id", "hop", "agent", "calls", "input_tokens", "output_tokens"]
        assert columns(conn, "exit_calls") == [
            "idempotency_key", "task_id", "hop", "seq", "tool", "result_json", "at"]


def test_reopening_runs_each_migration_once(tmp_path):
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    with StateStore.open(path) as store:
        versions = [r[0] for r in store.conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, LATEST + 1))


def test_revoked_table_made_first_by_a_neighbour_is_kept(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE revoked (jti TEXT PRIMARY KEY, task_id, hop, reason, revoked_at)")
    conn.execute("INSERT INTO revoked (jti) VALUES ('early')")
    conn.commit()
    conn.close()
    with StateStore.open(path) as store:
        assert store.is_revoked("early")


def test_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StateDatabaseError, match="newer"):
        StateStore.open(path)


def test_a_file_that_is_not_a_database_is_refused_cleanly(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StateDatabaseError, match="not a usable"):
        StateStore.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_neighbours_get_their_own_connection_to_the_same_file(tmp_path):
    with StateStore.open(tmp_path / "state.db") as store:
        conn = store.conn
        conn.execute("CREATE TABLE IF NOT EXISTS vault_demo (token TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO vault_demo VALUES ('email_tk_0123456789ab')")
        # A store transaction that rolls back takes none of the neighbour's writes with it.
        with pytest.raises(RuntimeError), store.transaction() as own:
            own.execute("INSERT INTO revoked (jti) VALUES ('rolled-back')")
            raise RuntimeError("boom")
        assert conn.execute("SELECT COUNT(*) FROM vault_demo").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        task_id = store.create_task(agent="refund-agent", input={})
        # Written by the store, visible to the neighbour at once (autocommit, WAL).
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE task_id = ?",
                            (task_id,)).fetchone()[0] == 1


def test_failed_transaction_rolls_back(tmp_path):
    with StateStore.open(tmp_path / "state.db") as store:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("INSERT INTO revoked (jti) VALUES ('rolled-back')")
            raise RuntimeError("boom")
        assert not store.is_revoked("rolled-back")


def test_a_world_readable_state_db_is_tightened(tmp_path):
    path = tmp_path / "state.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    StateStore.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
