"""`HopJournal`: a hop's audit rows and exit results, durable before the reply, folded
into state.db in batches.

Why it exists: the membrane must not answer a request before its audit row (and, for a
call, its result under the idempotency key) is durable. Committing an SQLite transaction
per request made that the most expensive part of a call (BEGIN, two inserts, COMMIT:
six WAL page writes, about 40 µs). Here each request appends **one line** to an
append-only file with a single `write(2)` before the reply is sent, which is exactly the
durability SQLite gives the store (`synchronous = NORMAL`: a commit has reached the OS,
so a crash of the process loses nothing, only a crash of the OS can). The lines are then
inserted into `audit` and `exit_calls` in one transaction per batch (`flush`): when
`BATCH` rows are pending, when the membrane has been idle for a moment, at hop end, and
before this process reads those tables through the store.

Crash safety:

- The journal file is created `O_EXCL`, owner-only, under `.silo/journal/`, and held with
  an exclusive `flock` for as long as its membrane lives; the kernel drops the lock when
  the process dies, however it dies.
- Each line carries a sequence number. Every flush records the highest applied number
  in `journal_applied` in the same transaction as the rows, so a line is never applied
  twice, whoever applies it.
- `recover_journals` (run by `StateStore.open`) applies what a dead process left behind:
  only files whose lock it can take (and still there once it has it), only lines past
  the recorded number, a torn last line (the process died inside `write`) ignored — that
  request was never answered. A failed append is cut back off the file, so it never
  glues itself to the next line. Nothing is folded in inside a caller's transaction.
  A file with a damaged line before its end is renamed `*.damaged` and left for the
  operator (`silo doctor` reports it), never half-trusted.

While the hop runs, `lookup_exit_result` answers from memory: the idempotency key names
(task, hop, seq), and only this hop's membrane ever records under it; results recorded by
an earlier, crashed run of the same hop are loaded when the journal opens (after
recovery). Every line is made only of texts the store's encoder produced, so the
plaintext guard has checked each of them before anything is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import sqlite3
import stat
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from siloos.store.encoding import CanonicalJson, loads, utc_now
from siloos.store.errors import HopConflict, StoreError
from siloos.store.records import AuditRecord, StoredExitResult, same_call_or_conflict

if TYPE_CHECKING:
    from siloos.store.store import StateStore

#: Pending rows that make the next append flush at once. Large enough that the flush
#: (about a millisecond) lands on one request in a thousand (a cell issuing requests back
#: to back never lets the idle flush run, so this is then the only one), small enough to
#: bound memory (about 1 MiB).
BATCH = 1024
#: How long a membrane with pending rows stays idle before they are flushed (seconds):
#: how stale `state.db` may look to another process while a hop is running.
IDLE_FLUSH_SECONDS = 0.05
#: The folder beside state.db that holds live and orphaned journals.
JOURNAL_DIR = "journal"
SUFFIX = ".jsonl"
DAMAGED_SUFFIX = ".damaged"

_INSERT_AUDIT = ("INSERT INTO audit (task_id, hop, op, tool, ok, code, reason, detail_json,"
                 " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_EXIT = ("INSERT OR IGNORE INTO exit_calls (idempotency_key, task_id, hop, seq, tool,"
                " result_json, at) VALUES (?, ?, ?, ?, ?, ?, ?)")
_AUDIT_FIELDS = 9
_EXIT_FIELDS = 7


class JournalError(StoreError):
    """The journal could not be written (the request it was for must not be answered)."""


class Line(NamedTuple):
    """One journal line: its number, an exit result's row and/or an audit row. (A named
    tuple: one is made per request, at a fraction of a frozen dataclass's cost.)"""

    seq: int
    exit_row: tuple[Any, ...] | None
    audit_row: tuple[Any, ...] | None


def journal_dir(state_path: Path) -> Path:
    return state_path.parent / JOURNAL_DIR


class HopJournal:
    """The audit and exit-result writer of one hop's membrane. Made by
    `StateStore.open_journal`; call `close()` at hop end (it flushes and removes the file).

    Thread-safe: every method runs under the store's lock, the same lock its flushes take.
    """

    def __init__(self, store: StateStore, task_id: str, hop: int) -> None:
        self.store = store
        self.task_id = task_id
        self.hop = hop
        folder = journal_dir(store.path)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        problem = _untrusted_folder(folder)
        if problem:
            raise JournalError(f"will not write the audit journal: {problem}")
        # One live membrane per hop, in any process: replays are answered from this
        # journal's memory, which a second live journal of the hop would not see.
        self._hop_lock: int | None = _lock_hop(folder, task_id, hop)
        try:
            # Unique per open: a retried hop (same task and hop) gets a file of its own.
            fd, self.name = _create_locked(folder, f"{task_id}.{hop}.{os.getpid()}.")
        except BaseException:
            self._unlock_hop()
            raise
        self.path = folder / self.name
        self._fd: int | None = fd
        #: The file's length: what a failed append is cut back to.
        self._size = 0
        # A journal dropped without close() (its membrane never stopped) still lets go of
        # its file, lock included, so the next `StateStore.open` folds it in.
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            self._results: dict[str, StoredExitResult] = self._recorded_before()
        except BaseException:
            self._discard()
            raise
        self._next = 1
        self._applied = 0
        self._pending: list[Line] = []
        #: `time.monotonic()` of the last append (the membrane's idle flush reads it).
        self.last_append = 0.0

    # -- what the membrane writes -------------------------------------------------------

    def audit(self, record: AuditRecord) -> None:
        """Append one audit row (a request or a refusal)."""
        values = self.store._audit_values(record)  # the guard checks every text here
        with self.store.lock:
            self._append(None, values)

    def record_exit_result(self, idempotency_key: str, *, task_id: str, hop: int, seq: int,
                           tool: str, result: Any,
                           audit: AuditRecord | None = None) -> StoredExitResult:
        """`StateStore.record_exit_result`, journalled: the first result recorded under a
        key wins, and a key used for another call is a `HopConflict` (nothing written)."""
        text = self.store._encoder.json("exit_calls.result", result)
        at = utc_now()
        audit_values = self.store._audit_values(audit, at) if audit is not None else None
        with self.store.lock:
            stored = self._results.get(idempotency_key)
            if stored is None:
                value = result.value if isinstance(result, CanonicalJson) else loads(text)
                fresh = StoredExitResult(idempotency_key=idempotency_key, task_id=task_id,
                                         hop=hop, seq=seq, tool=tool, result=value, at=at,
                                         result_json=text)
                self._append((idempotency_key, task_id, hop, seq, tool, text, at),
                             audit_values)
                self._results[idempotency_key] = fresh
                return fresh
            same_call_or_conflict(stored, task_id, hop, seq, tool)
            if audit_values is not None:
                self._append(None, audit_values)
            return stored

    def lookup_exit_result(self, idempotency_key: str) -> StoredExitResult | None:
        """The result recorded under this key by this hop (or an earlier run of it)."""
        return self._results.get(idempotency_key)

    @property
    def pending(self) -> int:
        """Rows appended and not yet in state.db."""
        return len(self._pending)

    # -- folding into state.db ----------------------------------------------------------

    def flush(self) -> int:
        """Insert the pending rows into state.db in one transaction; returns how many.
        On failure the rows stay pending (and in the file): nothing is lost. Nothing is
        done inside a transaction of the caller's (see `_own_transaction`), nor once the
        journal is closed (what it did not fold in is then the file's, for recovery)."""
        with self.store.lock:
            if not self._pending or self._fd is None:
                return 0
            lines = self._pending
            with _own_transaction(self.store) as conn:
                if conn is None:
                    return 0
                _apply(conn, self.name, lines, self._applied)
            self._applied = lines[-1].seq
            self._pending = []
            return len(lines)

    def close(self) -> None:
        """Flush, then remove the file (its rows are all in state.db) and its progress row.
        If the flush fails the file is kept, unlocked, for the next `StateStore.open`."""
        with self.store.lock:
            if self._fd is None:
                return
            try:
                self.flush()
            except BaseException:
                self._release()
                raise
            if self._pending:  # not folded in (a caller's transaction is open): kept
                self._release()
                return
            self._discard()
            with contextlib.suppress(sqlite3.Error), _own_transaction(self.store) as conn:
                if conn is not None:
                    conn.execute("DELETE FROM journal_applied WHERE name = ?", (self.name,))

    # -- internals ----------------------------------------------------------------------

    def _append(self, exit_row: tuple[Any, ...] | None,
                audit_row: tuple[Any, ...] | None) -> None:
        if self._fd is None:
            raise JournalError(f"journal {self.name} is closed")
        if not _row_ok(exit_row, _EXIT_FIELDS) or not _row_ok(audit_row, _AUDIT_FIELDS):
            # What recovery would set aside, or SQLite refuse (and so every batch after it).
            raise JournalError("a journal row holds a value state.db cannot store")
        line = Line(self._next, exit_row, audit_row)
        try:
            # `_row_ok` let through only exact str, int and None: orjson writes those as
            # the standard encoder would (a lone surrogate, which UTF-8 cannot hold, raises).
            data = orjson.dumps([line.seq, exit_row, audit_row],
                                option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError is one
            raise JournalError("a journal row holds text that cannot be written") from None
        try:
            _write_all(self._fd, data)
        except OSError as err:
            self._cut_back()
            raise JournalError(f"cannot write the audit journal: {err.strerror}") from None
        self._size += len(data)
        self._next += 1
        self._pending.append(line)
        self.last_append = time.monotonic()
        if len(self._pending) >= BATCH:
            # Best effort: the line is durable already, so however the fold fails it only
            # delays it (the caller must still learn that its row, or result, is recorded).
            with contextlib.suppress(Exception):
                self.flush()

    def _cut_back(self) -> None:
        """After a failed append: remove what part of the line reached the file, or the
        next line would be glued to it and recovery would find the file damaged. If even
        that fails, stop writing (the part is then a torn last line, which recovery
        ignores) and leave the file to recovery."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._release()

    def _recorded_before(self) -> dict[str, StoredExitResult]:
        """Results an earlier run of this hop recorded (its keys are this hop's own)."""
        prefix = f"{self.task_id}/{self.hop}/"
        rows = self.store._all(
            "SELECT * FROM exit_calls WHERE idempotency_key >= ? AND idempotency_key < ?",
            (prefix, prefix[:-1] + chr(ord("/") + 1)))
        return {r["idempotency_key"]: StoredExitResult(
            idempotency_key=r["idempotency_key"], task_id=r["task_id"], hop=r["hop"],
            seq=r["seq"], tool=r["tool"], result=loads(r["result_json"]), at=r["at"],
            result_json=r["result_json"]) for r in rows}

    def _release(self) -> None:
        """Let go of the file (and its lock) and of the hop; rows not yet folded in are
        then recovery's alone: folding them in from here too could apply them twice."""
        if self._fd is not None:
            self._finalizer()  # closes the file (once), which also drops the lock
            self._fd = None
        self._pending = []
        self._unlock_hop()

    def _unlock_hop(self) -> None:
        fd, self._hop_lock = self._hop_lock, None
        if fd is not None:
            # Removed while still held: whoever opened the old file sees it gone once
            # the lock is theirs, and opens the path again (`_lock_hop`).
            with contextlib.suppress(OSError):
                _hop_lock_path(journal_dir(self.store.path), self.task_id, self.hop).unlink()
            os.close(fd)

    def _discard(self) -> None:
        self._release()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


#: Attempts at a journal file that no recovery removed before it was locked.
_CREATE_ATTEMPTS = 8
LOCK_SUFFIX = ".lock"


def _hop_lock_path(folder: Path, task_id: str, hop: int) -> Path:
    return folder / f"{task_id}.{hop}{LOCK_SUFFIX}"


def _lock_hop(folder: Path, task_id: str, hop: int) -> int:
    """The hop's lock file, open and exclusively locked: its descriptor. HopConflict when
    a live journal of the hop (this process or another) holds it."""
    path = _hop_lock_path(folder, task_id, hop)
    for _ in range(_CREATE_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HopConflict(f"hop {hop} of task {task_id} already has a live membrane") \
                from None
        except BaseException:
            os.close(fd)
            raise
        if os.fstat(fd).st_nlink > 0:
            return fd
        os.close(fd)  # its holder removed it on the way out: lock the path's new file
    raise JournalError(f"cannot lock hop {hop} of task {task_id}")


def _untrusted_folder(folder: Path) -> str | None:
    """Why the journal folder must not be used (None: it may). Only this user may put
    files there: a journal is trusted to hold this membrane's rows and no one else's."""
    try:
        info = folder.lstat()
    except OSError as err:
        return f"{folder}: {err.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a directory"
    if info.st_uid != os.geteuid():
        return f"{folder} belongs to uid {info.st_uid}, not to this user"
    if info.st_mode & 0o022:
        return f"{folder} is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _create_locked(folder: Path, stem: str) -> tuple[int, str]:
    """A new journal file (`stem` + random + `SUFFIX`), owner-only, exclusively locked:
    its descriptor and name. Between its creation and its lock a recovery may find it
    (empty and unlocked, like a dead process's) and remove it; a removed file is replaced,
    never written to, since what went into it would be in no file recovery can see."""
    for _ in range(_CREATE_ATTEMPTS):
        name = f"{stem}{secrets.token_hex(6)}{SUFFIX}"
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a recovery holds it only for a moment
            if os.fstat(fd).st_nlink > 0:
                return fd, name
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        os.close(fd)
    raise JournalError(f"cannot create an audit journal in {folder}")


@contextlib.contextmanager
def _own_transaction(store: StateStore) -> Iterator[sqlite3.Connection | None]:
    """A transaction of the journal's own on the store's connection (under the store's
    lock), or None when this thread is inside a transaction already: rows folded into a
    caller's transaction would be counted as applied, then lost if it rolled back."""
    with store.lock:
        if store._conn.in_transaction:
            yield None
            return
        with store.transaction(log_only=True) as conn:
            yield conn


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _apply(conn: sqlite3.Connection, name: str, lines: list[Line], applied: int) -> int:
    """Insert `lines` past `applied` (inside the caller's transaction) and record progress;
    returns how many lines that was."""
    row = conn.execute("SELECT seq FROM journal_applied WHERE name = ?", (name,)).fetchone()
    done = max(applied, int(row[0]) if row is not None else 0)
    todo = [line for line in lines if line.seq > done]
    if not todo:
        return 0
    # The common case in two C loops (a batch is folded in while a request may wait for
    # it); a task that does not exist fails the first, and the careful loop below runs
    # instead (rows already in are ignored by INSERT OR IGNORE).
    try:
        conn.executemany(_INSERT_EXIT, [ln.exit_row for ln in todo if ln.exit_row is not None])
    except sqlite3.IntegrityError:
        _apply_one_by_one(conn, todo)
    else:
        conn.executemany(_INSERT_AUDIT,
                         [ln.audit_row for ln in todo if ln.audit_row is not None])
    conn.execute("INSERT INTO journal_applied (name, seq) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq", (name, todo[-1].seq))
    return len(todo)


def _apply_one_by_one(conn: sqlite3.Connection, todo: list[Line]) -> None:
    for line in todo:
        if line.exit_row is not None:
            try:
                conn.execute(_INSERT_EXIT, line.exit_row)
            except sqlite3.IntegrityError:
                # Only a task that does not exist fails here (the membrane served a hop
                # of it, so it did); say so in the trail rather than lose the batch.
                conn.execute(_INSERT_AUDIT, (line.exit_row[1], line.exit_row[2], "journal",
                                             line.exit_row[4], 0, 500,
                                             "exit result not stored: unknown task", None,
                                             line.exit_row[6]))
        if line.audit_row is not None:
            conn.execute(_INSERT_AUDIT, line.audit_row)


# -- recovery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovered:
    """What `recover_journals` did: lines applied, files finished, files set aside."""

    lines: int = 0
    files: int = 0
    damaged: tuple[str, ...] = ()


class _Damaged(Exception):
    """A journal line before the end that is not a journal line."""


def recover_journals(store: StateStore) -> Recovered:
    """Apply the journals of dead processes to state.db, then remove them.

    A journal whose lock is held belongs to a live membrane and is left alone."""
    folder = journal_dir(store.path)
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return Recovered()
    if _untrusted_folder(folder):
        return Recovered()  # nothing in it is applied; `silo doctor` says why
    applied = files = 0
    damaged: list[str] = []
    for name in names:
        path = folder / name
        try:
            with _locked(path) as fd:
                if fd is None:
                    continue  # alive, or already done by another recovery
                if fd is _UNTRUSTED:
                    # Not a journal this user wrote: never applied, set aside for a look.
                    os.replace(path, path.with_name(name + DAMAGED_SUFFIX))
                    damaged.append(name)
                    continue
                try:
                    lines = _read_lines(fd)
                    with _own_transaction(store) as conn:
                        if conn is None:
                            return Recovered(lines=applied, files=files,
                                             damaged=tuple(damaged))
                        applied += _apply(conn, name, lines, 0)
                except (_Damaged, ValueError):  # ValueError: a text SQLite cannot take
                    os.replace(path, path.with_name(name + DAMAGED_SUFFIX))
                    damaged.append(name)
                    continue
                path.unlink()
                with contextlib.suppress(sqlite3.Error), _own_transaction(store) as conn:
                    if conn is not None:
                        conn.execute("DELETE FROM journal_applied WHERE name = ?", (name,))
                files += 1
        except FileNotFoundError:
            continue  # its owner closed it while we looked
    return Recovered(lines=applied, files=files, damaged=tuple(damaged))


#: What `_locked` yields for a file that is not an owner-only regular file of this user.
_UNTRUSTED = -1


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int | None]:
    """The file open and exclusively locked; `_UNTRUSTED` when it is not an owner-only
    regular file of this user; or None when another process holds it or
    it was removed before the lock was ours (another recovery finished it meanwhile, and
    dropped its progress row: applying it again would apply it twice)."""
    # O_NONBLOCK: a FIFO planted here must not hang the opening of the store.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
                or info.st_mode & 0o077):
            yield _UNTRUSTED
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd if os.fstat(fd).st_nlink > 0 else None
    finally:
        os.close(fd)


def _read_lines(fd: int) -> list[Line]:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    raw = b"".join(chunks)
    parts = raw.split(b"\n")
    # The last part is empty after a final newline; anything else there is a torn write
    # (the process died inside it, so that request was never answered): ignored.
    lines: list[Line] = []
    for part in parts[:-1]:
        lines.append(_parse_line(part))
    return lines


def _parse_line(part: bytes) -> Line:
    try:
        seq, exit_row, audit_row = json.loads(part)
    except (ValueError, TypeError) as err:
        raise _Damaged(str(err)) from None
    if (not isinstance(seq, int) or seq < 1
            or not _row_ok(exit_row, _EXIT_FIELDS) or not _row_ok(audit_row, _AUDIT_FIELDS)
            or (exit_row is None and audit_row is None)):
        raise _Damaged("not a journal line")
    return Line(seq, tuple(exit_row) if exit_row else None,
                tuple(audit_row) if audit_row else None)


#: The integers an SQLite INTEGER holds.
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1


def _row_ok(row: Any, fields: int) -> bool:
    """Whether `row` is None or a row of `fields` values state.db can store (texts,
    64-bit integers, NULL); a list when read back, a tuple when about to be written."""
    if row is None:
        return True
    if (type(row) is not tuple and type(row) is not list) or len(row) != fields:
        return False
    for value in row:
        kind = type(value)
        # Exact types only: a subclass could encode, or compare, as something else.
        if kind is str or value is None:
            continue
        if kind is not int or not _INT_MIN <= value <= _INT_MAX:
            return False
    return True


def journal_folder_problem(state_path: Path) -> str | None:
    """Why the journal folder beside `state_path` cannot be trusted (for `silo doctor`);
    None when it can, or does not exist yet."""
    folder = journal_dir(state_path)
    if not os.path.lexists(folder):
        return None
    return _untrusted_folder(folder)


def damaged_journals(state_path: Path) -> list[Path]:
    """Journals recovery set aside (for `silo doctor`)."""
    folder = journal_dir(state_path)
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(DAMAGED_SUFFIX))
    except FileNotFoundError:
        return []
