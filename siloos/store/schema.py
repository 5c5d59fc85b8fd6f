"""The state.db schema as an ordered list of migrations, applied once each.

`schema_migrations` records which versions ran. A new column or table is a new entry at
the end of `MIGRATIONS`; existing entries are never edited, so every state.db reaches the
same shape. Other packages (the privacy vault, key revocations) add their own tables to
the same file with `CREATE TABLE IF NOT EXISTS`; the `revoked` table below is shared with
`siloos.keys.revocations` and must keep exactly this shape.
"""

from __future__ import annotations

import sqlite3

from siloos.store.encoding import utc_now
from siloos.store.errors import StateDatabaseError

TASK_STATES = ("queued", "running", "waiting_human", "done", "failed", "aborted")
FINAL_STATES = ("done", "failed", "aborted")

_STATES_SQL = ", ".join(f"'{s}'" for s in TASK_STATES)

V1 = f"""
CREATE TABLE tasks (
    task_id        TEXT PRIMARY KEY,
    state          TEXT NOT NULL CHECK (state IN ({_STATES_SQL})),
    agent          TEXT,
    workflow       TEXT,
    channel        TEXT NOT NULL,
    customer_scope TEXT,
    customer_token TEXT,
    case_token     TEXT,
    input_json     TEXT NOT NULL,
    reason         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX tasks_state ON tasks(state, created_at);

-- status has no declared type on purpose: it holds 200..500 as integers, or the text
-- "timeout"/"killed" when the cell did not finish (design §10).
CREATE TABLE hops (
    task_id      TEXT NOT NULL REFERENCES tasks(task_id),
    hop          INTEGER NOT NULL CHECK (hop >= 0),
    agent        TEXT NOT NULL,
    status,
    summary_json TEXT,
    output_json  TEXT,
    redirect     TEXT,
    key_jti      TEXT,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    stdout       TEXT,
    stderr       TEXT,
    PRIMARY KEY (task_id, hop)
);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id   TEXT NOT NULL REFERENCES tasks(task_id),
    hop       INTEGER,
    kind      TEXT NOT NULL,
    data_json TEXT NOT NULL,
    at        TEXT NOT NULL
);
CREATE INDEX events_task ON events(task_id, id);

-- No foreign key: refusals are audited even when the request names no real task.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT,
    hop         INTEGER,
    op          TEXT NOT NULL,
    tool        TEXT,
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    code        INTEGER,
    reason      TEXT,
    detail_json TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX audit_task ON audit(task_id, id);

CREATE TABLE IF NOT EXISTS revoked (
    jti        TEXT PRIMARY KEY,
    task_id    TEXT,
    hop        INTEGER,
    reason     TEXT,
    revoked_at TEXT
);

CREATE TABLE llm_usage (
    task_id       TEXT NOT NULL REFERENCES tasks(task_id),
    hop           INTEGER NOT NULL,
    agent         TEXT NOT NULL,
    calls         INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, hop, agent)
);

CREATE TABLE exit_calls (
    idempotency_key TEXT PRIMARY KEY,
    task_id         TEXT NOT NULL REFERENCES tasks(task_id),
    hop             INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    tool            TEXT NOT NULL,
    result_json     TEXT NOT NULL,
    at              TEXT NOT NULL
);
"""

# Two fewer pages written per membrane call (the commit on every request's path):
# - `audit` ids without AUTOINCREMENT: AUTOINCREMENT only matters when the highest row
#   can be deleted (its id must then never come back); audit rows are never deleted, so
#   max(id) + 1 gives the same ids, without a `sqlite_sequence` update in every commit.
# - `exit_calls` WITHOUT ROWID: the idempotency key is the table's own b-tree key,
#   instead of a rowid table plus a separate index on the key (two pages per insert).
# Tables are rebuilt in place (create, copy in id/key order, drop, rename), rows and
# their ids kept, in the same transaction as the version record.
V2 = """
CREATE TABLE audit_v2 (
    id          INTEGER PRIMARY KEY,
    task_id     TEXT,
    hop         INTEGER,
    op          TEXT NOT NULL,
    tool        TEXT,
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    code        INTEGER,
    reason      TEXT,
    detail_json TEXT,
    at          TEXT NOT NULL
);
INSERT INTO audit_v2 (id, task_id, hop, op, tool, ok, code, reason, detail_json, at)
    SELECT id, task_id, hop, op, tool, ok, code, reason, detail_json, at FROM audit ORDER BY id;
DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
CREATE INDEX audit_task ON audit(task_id, id);

CREATE TABLE exit_calls_v2 (
    idempotency_key TEXT PRIMARY KEY,
    task_id         TEXT NOT NULL REFERENCES tasks(task_id),
    hop             INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    tool            TEXT NOT NULL,
    result_json     TEXT NOT NULL,
    at              TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO exit_calls_v2 (idempotency_key, task_id, hop, seq, tool, result_json, at)
    SELECT idempotency_key, task_id, hop, seq, tool, result_json, at FROM exit_calls
    ORDER BY idempotency_key;
DROP TABLE exit_calls;
ALTER TABLE exit_calls_v2 RENAME TO exit_calls;
"""

# The audit journal's progress (`siloos.store.journal`): for each journal file, the
# highest line number already in `audit`/`exit_calls`, written in the same transaction as
# those rows, so no line is ever applied twice. A row lives as long as its file.
V3 = """
CREATE TABLE journal_applied (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL CHECK (seq >= 0)
) WITHOUT ROWID;
"""

#: (version, script). Append only.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, V1), (2, V2), (3, V3))

LATEST = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, *, where: str) -> int:
    """Bring the database to `LATEST`; refuses a database from a newer SiloOS."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        if version > LATEST:
            raise StateDatabaseError(
                f"{where}: schema version {version} is newer than this SiloOS "
                f"understands ({LATEST}); upgrade SiloOS")
        for number, script in MIGRATIONS:
            if number <= version:
                continue
            # executescript() would COMMIT the open transaction; run statement by
            # statement so a failing migration leaves nothing behind.
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                         (number, utc_now()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return LATEST


def _statements(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
