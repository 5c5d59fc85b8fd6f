"""Review of the hop journal and the guard's remembered answers: each test is a way a row
could be lost or applied twice, a retried call could act twice, or the guard could accept
a text that checking the text itself refuses."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
from test_journal_support import task_in

from siloos.privacy import tokens
from siloos.privacy.guard import PlaintextGuard
from siloos.store import AuditRecord, HopConflict, StateStore
from siloos.store import journal as journal_mod
from siloos.store.encoding import canonical
from siloos.store.errors import PlaintextRefused, StoreError
from siloos.store.journal import BATCH, JournalError, journal_dir, recover_journals

EMAIL = "odalys.fernwhistle@example.com"


def reasons(path: Path, task_id: str) -> list[str]:
    """The audit reasons as another process sees them (a fresh connection, no flush)."""
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT reason FROM audit WHERE task_id = ? ORDER BY id", (task_id,))]
    finally:
        conn.close()


def record(task_id: str, n: int) -> AuditRecord:
    return AuditRecord(task_id, 1, "call", "t.x", ok=True, code=200, reason=f"ok {n}")


def racing_flock(monkeypatch: pytest.MonkeyPatch, store: StateStore) -> None:
    """The journal module's first `flock` lets another process's recovery run first."""
    real = fcntl.flock
    raced: list[bool] = []

    def flock(fd: int, op: int) -> None:
        if not raced:
            raced.append(True)
            recover_journals(store)
        real(fd, op)

    monkeypatch.setattr(journal_mod.fcntl, "flock", flock)


# -- rows lost or applied twice ----------------------------------------------------------


def test_a_journal_whose_close_failed_is_not_folded_in_again_after_recovery(
        store, monkeypatch) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))

    def locked(*args: object) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(journal_mod, "_apply", locked)
    with pytest.raises(sqlite3.OperationalError):
        journal.close()  # the file is kept for the next open
    monkeypatch.undo()
    StateStore.open(store.path).close()  # another process's open folds the file in
    assert reasons(store.path, task_id) == ["ok 1"]
    store.audit_events(task_id)  # this store folds its journals in: nothing left to do
    assert reasons(store.path, task_id) == ["ok 1"]


def test_a_rolled_back_store_transaction_loses_no_journal_row(store) -> None:
    task_id = task_in(store)
    key = f"{task_id}/1/9"
    store.record_exit_result(key, task_id=task_id, hop=1, seq=9, tool="t.x", result=1)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))
    with pytest.raises(HopConflict):  # its lookup runs inside the rolled back transaction
        store.record_exit_result(key, task_id=task_id, hop=1, seq=9, tool="t.y", result=2)
    journal.close()
    assert reasons(store.path, task_id) == ["ok 1"]


def test_recovery_inside_a_rolled_back_transaction_loses_no_dead_journal(store) -> None:
    task_id = task_in(store)
    dead = store.open_journal(task_id, 1)
    dead.audit(record(task_id, 1))
    dead._release()  # its process died
    with pytest.raises(RuntimeError), store.transaction():
        store.open_journal(task_id, 1)  # runs recovery
        raise RuntimeError("the caller gives up")
    StateStore.open(store.path).close()
    assert reasons(store.path, task_id) == ["ok 1"]


def test_two_recoveries_racing_apply_a_dead_journal_once(store, monkeypatch) -> None:
    task_id = task_in(store)
    dead = store.open_journal(task_id, 1)
    dead.audit(record(task_id, 1))
    dead._release()
    # Ours opens the file, the other one locks, applies and removes it, then ours locks.
    racing_flock(monkeypatch, store)
    recover_journals(store)
    monkeypatch.undo()
    assert reasons(store.path, task_id) == ["ok 1"]


def test_recovery_between_a_journal_s_create_and_its_lock_loses_nothing(
        store, monkeypatch) -> None:
    task_id = task_in(store)
    racing_flock(monkeypatch, store)  # another open sees the new file before it is locked
    journal = store.open_journal(task_id, 1)
    monkeypatch.undo()
    journal.audit(record(task_id, 1))
    assert journal.path.exists()
    journal._release()  # the process dies before folding it in
    recover_journals(store)
    assert reasons(store.path, task_id) == ["ok 1"]


def test_a_failed_partial_write_does_not_damage_the_lines_after_it(
        store, monkeypatch) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))
    real = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes) -> int:
        if fd != journal._fd:
            return real(fd, data)
        calls.append(fd)
        if len(calls) == 1:
            return real(fd, bytes(data[:len(data) // 2]))  # the disk fills up mid-line
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_mod.os, "write", write)
    with pytest.raises(JournalError):
        journal.audit(record(task_id, 2))  # refused: that request is not answered
    monkeypatch.undo()
    journal.audit(record(task_id, 3))  # space again: answered, so it must survive
    journal._release()  # the process dies
    found = recover_journals(store)
    assert found.damaged == ()
    assert reasons(store.path, task_id) == ["ok 1", "ok 3"]


def test_a_row_sqlite_cannot_hold_is_refused_before_it_is_written(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    with pytest.raises(StoreError):
        journal.audit(AuditRecord(task_id, 2 ** 63, "call", None, ok=True, code=200))
    journal.audit(record(task_id, 1))
    journal.close()
    assert reasons(store.path, task_id) == ["ok 1"]


def test_a_journal_line_sqlite_cannot_hold_is_set_aside_not_fatal(store) -> None:
    task_id = task_in(store)
    folder = journal_dir(store.path)
    folder.mkdir(mode=0o700, exist_ok=True)
    bad = folder / f"{task_id}.1.1.abcdef{journal_mod.SUFFIX}"
    bad.write_text(f'[1,null,["{task_id}",{2 ** 63},"call",null,1,200,"x",null,"at"]]\n')
    reopened = StateStore.open(store.path)  # must still open
    reopened.close()
    assert reopened.recovered.damaged == (bad.name,)


# -- a retried call acting twice ---------------------------------------------------------


def test_an_exit_result_whose_batch_fold_fails_is_still_recorded(store, monkeypatch) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    for n in range(BATCH - 1):
        journal.audit(record(task_id, n))

    def overflow(*args: object) -> int:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr(journal_mod, "_apply", overflow)
    key = f"{task_id}/1/1"
    journal.record_exit_result(key, task_id=task_id, hop=1, seq=1, tool="t.x", result=[1])
    assert journal.lookup_exit_result(key).result == [1]  # a replay must not act again


# -- the guard ---------------------------------------------------------------------------


def test_a_canonical_value_changed_after_encoding_is_checked_by_its_text(tmp_path) -> None:
    store = StateStore.open(tmp_path / "state.db", guard=PlaintextGuard().store_hook())
    try:
        task_id = store.create_task(agent="a", state="running")
        encoded = canonical({"to": EMAIL})
        encoded.value["to"] = "email_tk_bwofzvxerblssmyk"  # the value no longer says it
        with pytest.raises(PlaintextRefused):
            store.audit(task_id, 1, op="call", ok=True, detail=encoded)
    finally:
        store.close()
    assert EMAIL.encode() not in (tmp_path / "state.db").read_bytes()


def test_a_remembered_answer_is_not_kept_across_a_new_token_type(monkeypatch) -> None:
    """A registered type changes what a piece reads as once its tokens are set aside."""
    text = "born " + "zq_tk_" + "a" * 44 + " 1980-03-04"
    guard = PlaintextGuard()
    assert guard.verify(text).ok and guard.value_clean([text])
    monkeypatch.setattr(tokens, "TOKEN_RE", tokens._compile([*tokens.token_types(), "zq"]))
    assert not PlaintextGuard().verify(text).ok
    assert not guard.verify(text).ok
    assert not guard.value_clean([text])


def test_a_str_subclass_is_judged_by_its_characters() -> None:
    class Sly(str):
        def __hash__(self) -> int:
            return hash("ok")

        def __eq__(self, other: object) -> bool:
            return True

    guard = PlaintextGuard()
    assert guard.verify("ok").ok
    assert not guard.verify(Sly(f"mail {EMAIL}")).ok
