"""`StateStore`: SiloOS's own state in `.silo/state.db` (design §8, §11).

Tasks, hops, events, the audit trail, revoked key ids, LLM usage and the results of
exit calls (so a retried hop never acts twice). Callers pass tokenized data only; an
optional plaintext guard (see `siloos.store.encoding`) refuses anything that slips through.

One sqlite3 connection per store, shared by threads under a re-entrant lock: the membrane
runs in asyncio and the router may use worker threads, and every operation here is a
short statement, so serialising them is simpler and safer than a connection per thread.
Neighbouring packages (the vault) get a second connection, `store.conn`, to the same file.
Other processes (`silo submit` while `silo serve` runs) coordinate through WAL mode and
the busy timeout. Writes run in `BEGIN IMMEDIATE` transactions so that read-then-write
sequences (idempotency checks, state transitions) cannot interleave across processes.

Speed on the membrane's path (one request = a freshness look and one append): the hot
reads (`is_revoked`, `hop_active`) are answered from a `ReadCache` that is dropped whenever
any connection commits (see `siloos.store.readcache`); a hop's audit rows and exit results
go through its `HopJournal` (`open_journal`, see `siloos.store.journal`): one write per
request, folded into the tables here in batches, and folded in before this store reads
them; and SQLite's automatic WAL checkpoint runs a quarter as often
(`AUTOCHECKPOINT_PAGES`), while the membrane calls `checkpoint()` at hop end. Opening a
store folds in the journals a dead process left (`recovered` says what was found).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from siloos.store import shapes
from siloos.store.encoding import CanonicalJson, Encoder, PlaintextGuard, loads, utc_now
from siloos.store.errors import HopConflict, StateDatabaseError, StoreError, UnknownTask
from siloos.store.ids import new_task_id
from siloos.store.journal import HopJournal, Recovered, recover_journals
from siloos.store.readcache import MISSING, ReadCache
from siloos.store.records import AuditRecord, StoredExitResult, same_call_or_conflict
from siloos.store.schema import FINAL_STATES, TASK_STATES, migrate

#: How a hop may end: the statuses of design §2, or how the runtime saw the cell end
#: ("lost" is for hops found unfinished after a router crash).
HOP_END_STATUSES: tuple[int | str, ...] = (200, 301, 302, 400, 500, "timeout", "killed", "lost")

EVENT_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

DEFAULT_BUSY_TIMEOUT_MS = 10_000

#: WAL pages after which a commit on the store's connection checkpoints (SQLite's default
#: is 1000). A membrane call writes about six pages, so the default put a checkpoint (two
#: fsyncs, milliseconds) into one request in ~170: the p99. At 4000 it is one in ~700 and
#: the log stays under 16 MiB. A background checkpoint thread was tried and measured
#: worse: the log never got a quiet moment to restart, so it only grew.
AUTOCHECKPOINT_PAGES = 4000


class StateStore:
    """The task store. Open with `StateStore.open(path)`; close with `close()`."""

    def __init__(self, conn: sqlite3.Connection, path: Path,
                 guard: PlaintextGuard | None = None, *,
                 neighbour_conn: sqlite3.Connection | None = None) -> None:
        self._conn = conn
        self.path = path
        #: Guards the store's own connection; all store methods are safe across threads.
        self.lock = threading.RLock()
        #: A second connection to the same file for neighbouring packages (the privacy
        #: vault makes its tables here). It is separate so that a neighbour's statement,
        #: run under its own lock on another thread, can never land inside (and be rolled
        #: back with) a store transaction; SQLite's own locking orders the two.
        self.conn = neighbour_conn if neighbour_conn is not None else conn
        self._encoder = Encoder(guard)
        #: Bumped by every state-changing transaction on `_conn` (see `ReadCache`).
        self._generation = 0
        self._reads = ReadCache(conn)
        self._journals: weakref.WeakSet[HopJournal] = weakref.WeakSet()
        #: What opening found and applied of dead membranes' journals.
        self.recovered = Recovered()

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, guard: PlaintextGuard | None = None,
             busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> StateStore:
        """Open (creating if needed) the state database at `path` and migrate it."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise StateDatabaseError(f"{path}: cannot open state database: {err}") from None
        conn = _connect(path, busy_timeout_ms)
        try:
            _owner_only(path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateDatabaseError(f"{path}: cannot switch to WAL mode (got {mode})")
            migrate(conn, where=str(path))
            conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            neighbour = _connect(path, busy_timeout_ms)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StateDatabaseError(f"{path}: not a usable SiloOS state database: {err}") \
                from None
        except BaseException:
            conn.close()
            raise
        store = cls(conn, path, guard, neighbour_conn=neighbour)
        try:
            # Rows a dead membrane journalled but never folded in (see siloos.store.journal).
            store.recovered = recover_journals(store)
        except (OSError, sqlite3.Error):
            pass  # left for the next open; nothing in a journal is lost by waiting
        return store

    # -- the membrane's journal --------------------------------------------------------

    def open_journal(self, task_id: str, hop: int) -> HopJournal:
        """A journal for one hop's audit rows and exit results (see `siloos.store.journal`):
        durable per request with one append, folded into this database in batches. Reads
        of the audit trail or exit results through this store fold it in first.

        Before it opens, everything another run of the hop may have recorded is folded
        in (this store's open journals, and dead processes' left-over files), so the new
        journal starts from every result recorded so far."""
        self.flush_journals()
        with contextlib.suppress(OSError, sqlite3.Error):  # retried at the next open
            recover_journals(self)
        journal = HopJournal(self, task_id, hop)
        self._journals.add(journal)
        return journal

    def flush_journals(self) -> None:
        """Fold every open journal of this store into the database now."""
        with self.lock:
            for journal in list(self._journals):
                journal.flush()

    def close(self) -> None:
        with self.lock:
            for journal in list(self._journals):
                with contextlib.suppress(Exception):  # kept on disk if it cannot be folded
                    journal.close()
            if self.conn is not self._conn:
                self.conn.close()
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def guard(self) -> PlaintextGuard | None:
        return self._encoder.guard

    @guard.setter
    def guard(self, check: PlaintextGuard | None) -> None:
        """Install the detector that every stored text is checked with (None: no check)."""
        self._encoder.guard = check

    @contextmanager
    def transaction(self, *, log_only: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction on the store's connection (several store writes at once).

        Re-entrant: a transaction opened inside another joins the outer one. Do not write
        through `store.conn` (the vault) inside it: that connection would wait for this
        transaction's write lock until the busy timeout.

        `log_only` (internal) promises that the transaction only appends to tables the read
        cache never answers from (audit, events, exit results, LLM usage), so cached
        answers about revocations and hops stay valid across it. Anything else, including
        every transaction a caller opens, invalidates them.
        """
        with self.lock:
            if not log_only:
                self._generation += 1
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Copy the WAL back into the database now (passive: never waits for, or blocks,
        another connection). For quiet moments such as a hop's end, so that the automatic
        checkpoint rarely has to run inside a request. False if it could not complete."""
        with self.lock:
            if self._conn.in_transaction:
                return False
            try:
                busy, log, done = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                return False
            return not busy and log == done

    def _fresh_cache(self) -> bool:
        """Bring the read cache up to date (call under the lock); False when it must not
        be used: inside a transaction, which may see its own uncommitted writes."""
        if self._conn.in_transaction:
            return False
        self._reads.refresh(self._generation)
        return True

    def _exists(self, cached: bool, key: tuple[Any, ...], sql: str,
                params: tuple[Any, ...]) -> bool:
        """Whether `sql` finds a row; from the read cache when `cached` (under the lock)."""
        if not cached:
            return self._conn.execute(sql, params).fetchone() is not None
        found = self._reads.get(key)
        if found is MISSING:
            found = self._conn.execute(sql, params).fetchone() is not None
            self._reads.put(key, found)
        return bool(found)

    def _revoked(self, cached: bool, jti: str) -> bool:
        return self._exists(cached, ("revoked", jti), "SELECT 1 FROM revoked WHERE jti = ?",
                            (jti,))

    def _hop_active(self, cached: bool, task_id: str, hop: int) -> bool:
        return self._exists(
            cached, ("hop_active", task_id, hop),
            "SELECT 1 FROM hops JOIN tasks USING (task_id) WHERE task_id = ? AND hop = ? "
            "AND hops.ended_at IS NULL AND tasks.state NOT IN ('done', 'failed', 'aborted')",
            (task_id, hop))

    def changes_seen(self) -> int:
        """A number that moves whenever this store's last freshness look (every
        `hop_gate`, `is_revoked`, `hop_active`) found state.db changed by another
        connection or process, or by a state change of its own. Unchanged between two
        looks means nothing was committed elsewhere in between: the vault's tables, on the
        same file, did not change either (see `siloos.membrane.memo.KnownVersions`)."""
        return self._reads.changes

    def hop_gate(self, task_id: str, hop: int, task_jti: str, base_jti: str) -> str | None:
        """The membrane's per-request state check in one look: None when the hop may act,
        else the first that fails of "task_key_revoked", "base_key_revoked", "hop_inactive".

        Same answers as `is_revoked` and `hop_active`, with one freshness check for all."""
        with self.lock:
            cached = self._fresh_cache()
            if self._revoked(cached, task_jti):
                return "task_key_revoked"
            if self._revoked(cached, base_jti):
                return "base_key_revoked"
            if not self._hop_active(cached, task_id, hop):
                return "hop_inactive"
            return None

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self.lock:
            return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    # -- tasks -------------------------------------------------------------------------

    def create_task(self, *, agent: str | None = None, workflow: str | None = None,
                    channel: str = "cli", customer_scope: str | None = None,
                    customer_token: str | None = None, case_token: str | None = None,
                    input: Any = None,  # the task payload input of §5, tokenized
                    state: str = "queued", reason: str | None = None) -> str:
        """Store a new task (its input already tokenized) and return its id."""
        if not agent and not workflow:
            raise StoreError("a task needs an agent or a workflow")
        _check_state(state)
        enc = self._encoder
        task_id = new_task_id()
        now = utc_now()
        row = (task_id, state, enc.optional_text("tasks.agent", agent),
               enc.optional_text("tasks.workflow", workflow),
               enc.optional_text("tasks.channel", channel) or "cli",
               enc.optional_text("tasks.customer_scope", customer_scope),
               enc.optional_text("tasks.customer_token", customer_token),
               enc.optional_text("tasks.case_token", case_token),
               enc.json("tasks.input", input if input is not None else {}),
               enc.optional_text("tasks.reason", reason), now, now)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO tasks (task_id, state, agent, workflow, channel, customer_scope,"
                " customer_token, case_token, input_json, reason, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            self._event(conn, task_id, None, "created", {"state": state})
        return task_id

    def get_task(self, task_id: str) -> dict[str, Any]:
        """The whole task row, input decoded; `UnknownTask` when there is none."""
        row = self._one("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        if row is None:
            raise UnknownTask(f"no task {task_id!r}")
        return shapes.task_full(row)

    def set_state(self, task_id: str, state: str, reason: str | None = None) -> None:
        """Move a task to `state`; a task that is done, failed or aborted stays so."""
        _check_state(state)
        text = self._encoder.optional_text("tasks.reason", reason)
        with self.transaction() as conn:
            current = self._state_of(conn, task_id)
            if current in FINAL_STATES and state != current:
                raise StoreError(f"task {task_id} is already {current}; it cannot become {state}")
            conn.execute("UPDATE tasks SET state = ?, reason = ?, updated_at = ? "
                         "WHERE task_id = ?", (state, text, utc_now(), task_id))
            data: dict[str, Any] = {"state": state, "from": current}
            if text is not None:
                data["reason"] = text
            self._event(conn, task_id, None, "state", data)

    def claim_queued(self) -> str | None:
        """Atomically move the oldest queued task to running and return its id."""
        with self.transaction() as conn:
            row = conn.execute("SELECT task_id FROM tasks WHERE state = 'queued' "
                               "ORDER BY created_at, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE tasks SET state = 'running', updated_at = ? WHERE task_id = ?",
                         (utc_now(), row["task_id"]))
            self._event(conn, row["task_id"], None, "state", {"state": "running",
                                                              "from": "queued"})
            return str(row["task_id"])

    def list_tasks(self, state: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
        """Tasks, newest first, in the shape of `silo tasks --json` (design §10)."""
        sql, params = "SELECT * FROM tasks", []
        if state is not None:
            _check_state(state)
            sql += " WHERE state = ?"
            params.append(state)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise StoreError(f"limit must be a positive integer, not {limit!r}")
            sql += " LIMIT ?"
            params.append(limit)
        return [shapes.task_summary(r) for r in self._all(sql, tuple(params))]

    def show(self, task_id: str) -> dict[str, Any]:
        """One task's hops and events, in the shape of `silo show --json` (design §10)."""
        with self.lock:
            task = self._one("SELECT task_id, state, reason FROM tasks WHERE task_id = ?",
                             (task_id,))
            if task is None:
                raise UnknownTask(f"no task {task_id!r}")
            hops = self._all("SELECT * FROM hops WHERE task_id = ? ORDER BY hop", (task_id,))
            events = self.events(task_id)
        return {"task_id": task["task_id"], "state": task["state"], "reason": task["reason"],
                "hops": [shapes.hop_show(h) for h in hops], "events": events}

    # -- hops --------------------------------------------------------------------------

    def start_hop(self, task_id: str, hop: int, agent: str, key_jti: str | None) -> None:
        """Record that `agent` starts hop `hop` of the task with task key `key_jti`."""
        _check_hop(hop)
        enc = self._encoder
        with self.transaction() as conn:
            state = self._state_of(conn, task_id)
            if state in FINAL_STATES:
                raise HopConflict(f"task {task_id} is {state}; no new hop can start")
            try:
                conn.execute("INSERT INTO hops (task_id, hop, agent, key_jti, started_at) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (task_id, hop, enc.optional_text("hops.agent", agent),
                              key_jti, utc_now()))
            except sqlite3.IntegrityError:
                raise HopConflict(f"hop {hop} of task {task_id} already exists") from None
            self._event(conn, task_id, hop, "hop_started", {"agent": agent})

    def finish_hop(self, task_id: str, hop: int, *, status: int | str,
                   summary: Any = None, output: Any = None, redirect: str | None = None,
                   stdout: str | None = None, stderr: str | None = None) -> None:
        """Record how a running hop ended. A hop ends once; a second finish is refused."""
        if isinstance(status, bool) or status not in HOP_END_STATUSES:
            raise StoreError(f"unknown hop status {status!r}")
        enc = self._encoder
        values = (status, enc.optional_json("hops.summary", summary),
                  enc.optional_json("hops.output", output),
                  enc.optional_text("hops.redirect", redirect),
                  enc.optional_text("hops.stdout", stdout),
                  enc.optional_text("hops.stderr", stderr), utc_now(), task_id, hop)
        with self.transaction() as conn:
            done = conn.execute(
                "UPDATE hops SET status = ?, summary_json = ?, output_json = ?, redirect = ?,"
                " stdout = ?, stderr = ?, ended_at = ? "
                "WHERE task_id = ? AND hop = ? AND ended_at IS NULL", values).rowcount
            if done != 1:
                self._state_of(conn, task_id)  # UnknownTask first, if that is the problem
                raise HopConflict(f"hop {hop} of task {task_id} is not running")
            data: dict[str, Any] = {"status": status}
            if redirect is not None:
                data["redirect"] = values[3]
            self._event(conn, task_id, hop, "hop_finished", data)

    def hops(self, task_id: str) -> list[dict[str, Any]]:
        """Every hop of a task in order, with `redirect` (the router builds history here)."""
        self.get_task(task_id)
        rows = self._all("SELECT * FROM hops WHERE task_id = ? ORDER BY hop", (task_id,))
        return [shapes.hop_full(r) for r in rows]

    def next_hop(self, task_id: str) -> int:
        """The number the task's next hop should take (1 for the first)."""
        self.get_task(task_id)
        row = self._one("SELECT MAX(hop) FROM hops WHERE task_id = ?", (task_id,))
        return int(row[0] or 0) + 1 if row is not None else 1

    def hop_active(self, task_id: str, hop: int) -> bool:
        """Whether the hop has started, not ended, and its task is still open."""
        with self.lock:
            return self._hop_active(self._fresh_cache(), task_id, hop)

    def unfinished_hops(self) -> list[dict[str, Any]]:
        """Hops that started and never ended (after a crash, the router retries or fails
        them by rule)."""
        rows = self._all("SELECT * FROM hops WHERE ended_at IS NULL ORDER BY started_at")
        return [{"task_id": r["task_id"], **shapes.hop_full(r)} for r in rows]

    # -- events and audit --------------------------------------------------------------

    def add_event(self, task_id: str, kind: str, data: dict[str, Any] | None = None,
                  hop: int | None = None) -> int:
        """Append an event to the task's timeline; returns its id."""
        with self.transaction(log_only=True) as conn:
            self._state_of(conn, task_id)
            return self._event(conn, task_id, hop, kind, data or {})

    def events(self, task_id: str) -> list[dict[str, Any]]:
        """The task's events in order, each flat: `{id, kind, hop, at, **data}`."""
        rows = self._all("SELECT * FROM events WHERE task_id = ? ORDER BY id", (task_id,))
        return [shapes.event(r) for r in rows]

    def audit(self, task_id: str | None, hop: int | None, *, op: str, tool: str | None = None,
              ok: bool, code: int | None = None, reason: str | None = None,
              detail: Any = None) -> int:
        """Append one audit record (every membrane request and refusal); returns its id."""
        values = self._audit_values(AuditRecord(task_id, hop, op, tool, ok, code, reason,
                                                detail))
        with self.transaction(log_only=True) as conn:
            return self._insert_audit(conn, values)

    def _audit_values(self, record: AuditRecord, at: str | None = None) -> tuple[Any, ...]:
        if not isinstance(record.op, str) or not record.op:
            raise StoreError("audit needs an op")
        enc = self._encoder
        return (enc.optional_text("audit.task_id", record.task_id), record.hop,
                enc.optional_text("audit.op", record.op),
                enc.optional_text("audit.tool", record.tool), 1 if record.ok else 0,
                record.code, enc.optional_text("audit.reason", record.reason),
                enc.optional_json("audit.detail", record.detail), at or utc_now())

    @staticmethod
    def _insert_audit(conn: sqlite3.Connection, values: tuple[Any, ...]) -> int:
        cur = conn.execute("INSERT INTO audit (task_id, hop, op, tool, ok, code, reason,"
                           " detail_json, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        return int(cur.lastrowid or 0)

    def audit_events(self, task_id: str) -> list[dict[str, Any]]:
        """The task's audit records in order."""
        self.flush_journals()
        rows = self._all("SELECT * FROM audit WHERE task_id = ? ORDER BY id", (task_id,))
        return [shapes.audit_entry(r) for r in rows]

    # -- revocations -------------------------------------------------------------------

    def revoke(self, jti: str, *, task_id: str | None = None, hop: int | None = None,
               reason: str | None = None) -> bool:
        """Revoke a key id; for a task key also adds a `key_revoked {jti, hop}` event.

        Returns False when the jti was already revoked (revoking twice is harmless).
        """
        if not isinstance(jti, str) or not jti:
            raise StoreError("revoke needs a key id (jti)")
        text = self._encoder.optional_text("revoked.reason", reason)
        with self.transaction() as conn:
            if task_id is not None:
                self._state_of(conn, task_id)
            added = conn.execute(
                "INSERT OR IGNORE INTO revoked (jti, task_id, hop, reason, revoked_at) "
                "VALUES (?, ?, ?, ?, ?)", (jti, task_id, hop, text, utc_now())).rowcount
            if added and task_id is not None:
                self._event(conn, task_id, hop, "key_revoked", {"jti": jti})
        return bool(added)

    def is_revoked(self, jti: str) -> bool:
        """The keys' RevocationCheck protocol. Cached until any connection commits, so a
        revocation by another process counts from the next request on."""
        with self.lock:
            return self._revoked(self._fresh_cache(), jti)

    # -- LLM usage ---------------------------------------------------------------------

    def add_llm_usage(self, task_id: str, hop: int, agent: str, *, input_tokens: int,
                      output_tokens: int, calls: int = 1) -> None:
        """Add one LLM call's token counts to the (task, hop, agent) totals."""
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                            ("calls", calls)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StoreError(f"llm usage {name} must be a non-negative integer")
        with self.transaction(log_only=True) as conn:
            self._state_of(conn, task_id)
            conn.execute(
                "INSERT INTO llm_usage (task_id, hop, agent, calls, input_tokens, output_tokens)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, hop, agent) DO UPDATE SET"
                " calls = calls + excluded.calls,"
                " input_tokens = input_tokens + excluded.input_tokens,"
                " output_tokens = output_tokens + excluded.output_tokens",
                (task_id, hop, agent, calls, input_tokens, output_tokens))

    def llm_usage(self, task_id: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM llm_usage WHERE task_id = ? ORDER BY hop, agent",
                         (task_id,))
        return [dict(r) for r in rows]

    # -- idempotent exit calls ---------------------------------------------------------

    def record_exit_result(self, idempotency_key: str, *, task_id: str, hop: int, seq: int,
                           tool: str, result: Any,
                           audit: AuditRecord | None = None) -> StoredExitResult:
        """Remember an exit's (tokenized) result under its idempotency key.

        The first result recorded wins: a replay racing the original gets the original
        back, so the caller always answers with what really happened. With `audit`, that
        audit row is written in the same transaction (one commit for "the call happened
        and was audited"); if the call turns out to conflict, neither is written.

        `result` may come already encoded (`siloos.store.encoding.canonical`); its text is
        then stored as is (still checked by the plaintext guard), and when ours is the
        first record the returned `result` is that same value rather than a decoded copy.
        """
        text = self._encoder.json("exit_calls.result", result)
        at = utc_now()
        audit_values = self._audit_values(audit, at) if audit is not None else None
        with self.transaction(log_only=True) as conn:
            try:
                added = conn.execute(
                    "INSERT OR IGNORE INTO exit_calls (idempotency_key, task_id, hop, seq, tool,"
                    " result_json, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (idempotency_key, task_id, hop, seq, tool, text, at)).rowcount
            except sqlite3.IntegrityError:  # the task foreign key
                self._state_of(conn, task_id)  # UnknownTask, if that is the problem
                raise
            if added:
                # Ours is the first record: what we wrote is what is stored.
                value = result.value if isinstance(result, CanonicalJson) else loads(text)
                stored = StoredExitResult(idempotency_key=idempotency_key, task_id=task_id,
                                          hop=hop, seq=seq, tool=tool, result=value, at=at,
                                          result_json=text)
            else:
                found = self.lookup_exit_result(idempotency_key)
                assert found is not None
                stored = found
            same_call_or_conflict(stored, task_id, hop, seq, tool)
            if audit_values is not None:
                self._insert_audit(conn, audit_values)
        return stored

    def lookup_exit_result(self, idempotency_key: str) -> StoredExitResult | None:
        """The result stored under this key, or None if the call was never completed."""
        self.flush_journals()
        row = self._one("SELECT * FROM exit_calls WHERE idempotency_key = ?",
                        (idempotency_key,))
        if row is None:
            return None
        return StoredExitResult(idempotency_key=row["idempotency_key"], task_id=row["task_id"],
                                hop=row["hop"], seq=row["seq"], tool=row["tool"],
                                result=loads(row["result_json"]), at=row["at"],
                                result_json=row["result_json"])

    # -- internals ---------------------------------------------------------------------

    def _state_of(self, conn: sqlite3.Connection, task_id: str) -> str:
        row = conn.execute("SELECT state FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise UnknownTask(f"no task {task_id!r}")
        return str(row["state"])

    def _event(self, conn: sqlite3.Connection, task_id: str, hop: int | None, kind: str,
               data: dict[str, Any]) -> int:
        if not isinstance(kind, str) or not EVENT_KIND.match(kind):
            raise StoreError(f"bad event kind {kind!r}")
        if not isinstance(data, dict):
            raise StoreError("event data must be an object")
        clash = sorted(set(data) & set(shapes.EVENT_RESERVED))
        if clash:
            raise StoreError(f"event data may not use the reserved field(s) {clash}")
        text = self._encoder.json(f"events.{kind}", data)
        cur = conn.execute("INSERT INTO events (task_id, hop, kind, data_json, at) "
                           "VALUES (?, ?, ?, ?, ?)", (task_id, hop, kind, text, utc_now()))
        return int(cur.lastrowid or 0)


def _check_state(state: str) -> None:
    if state not in TASK_STATES:
        raise StoreError(f"unknown task state {state!r} (one of {', '.join(TASK_STATES)})")


def _check_hop(hop: int) -> None:
    if isinstance(hop, bool) or not isinstance(hop, int) or hop < 0:
        raise StoreError(f"hop must be a non-negative integer, not {hop!r}")


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """One configured connection: autocommit (transactions are explicit), rows by name."""
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as err:
        raise StateDatabaseError(f"{path}: cannot open state database: {err}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # NORMAL is durable against a crash of the process (the case the router must
        # survive); only an OS crash could lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StateDatabaseError(f"{path}: not a usable SiloOS state database: {err}") \
            from None
    return conn


def _owner_only(path: Path) -> None:
    """state.db holds the vault's ciphertexts and the audit trail: owner-only, like
    .silo/keys. Tightened on every open, since a neighbour may have created the file."""
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
