"""The hop journal: audit rows and exit results durable before the reply, folded in batches.

What must hold (siloos.store.journal): a row is on disk when `audit`/`record_exit_result`
returns; it reaches state.db by batch, idle flush, hop end or a read through the store;
a process killed at any point loses none of the rows it answered for, and none is ever
applied twice; a torn last line is ignored; a damaged one sets the file aside (and
`silo doctor` says so); a live membrane's journal is never touched by another process;
the plaintext guard refuses a row before any of it is written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_journal_support import task_in
from test_membrane_support import Hop, make_hop, served

from siloos.cli.doctor import journal_check
from siloos.store import AuditRecord, HopConflict, StateStore
from siloos.store import journal as journal_mod
from siloos.store.journal import (
    BATCH,
    DAMAGED_SUFFIX,
    damaged_journals,
    journal_dir,
    recover_journals,
)

CANARY = "journal-canary-51c9"


def audit_rows(path: Path, task_id: str) -> list[tuple]:
    """The audit table as another process would see it (a fresh connection, no flush)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT op, code, reason FROM audit WHERE task_id = ? ORDER BY id",
                            (task_id,)).fetchall()
    finally:
        conn.close()


def exit_keys(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT idempotency_key FROM exit_calls ORDER BY 1")]
    finally:
        conn.close()


def record(task_id: str, n: int, reason: str = "ok") -> AuditRecord:
    return AuditRecord(task_id, 1, "call", "t.x", ok=True, code=200, reason=f"{reason} {n}",
                       detail={"n": n})


# -- the write path ---------------------------------------------------------------------


def test_a_row_is_on_disk_before_audit_returns_and_in_state_db_after_flush(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))
    on_disk = journal.path.read_text().splitlines()
    assert len(on_disk) == 1 and '"ok 1"' in on_disk[0]
    assert audit_rows(store.path, task_id) == []  # not folded in yet
    assert journal.flush() == 1
    assert audit_rows(store.path, task_id) == [("call", 200, "ok 1")]
    assert journal.flush() == 0


def test_journal_folder_and_file_are_owner_only(store) -> None:
    journal = store.open_journal(task_in(store), 1)
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_close_folds_everything_in_and_removes_the_file(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    for n in range(5):
        journal.audit(record(task_id, n))
    journal.close()
    assert not journal.path.exists()
    assert len(audit_rows(store.path, task_id)) == 5
    assert store.conn.execute("SELECT count(*) FROM journal_applied").fetchone()[0] == 0
    journal.close()  # twice is harmless


def test_reads_through_the_store_fold_open_journals_in_first(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))
    assert [e["reason"] for e in store.audit_events(task_id)] == ["ok 1"]
    assert journal.pending == 0


def test_a_full_batch_is_folded_in_by_the_append_that_fills_it(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    for n in range(BATCH - 1):
        journal.audit(record(task_id, n))
    assert audit_rows(store.path, task_id) == []
    journal.audit(record(task_id, BATCH))
    assert len(audit_rows(store.path, task_id)) == BATCH and journal.pending == 0


def test_exit_results_first_record_wins_and_conflicts_write_nothing(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    key = f"{task_id}/1/1"
    first = journal.record_exit_result(key, task_id=task_id, hop=1, seq=1, tool="t.x",
                                       result={"v": 1}, audit=record(task_id, 1))
    again = journal.record_exit_result(key, task_id=task_id, hop=1, seq=1, tool="t.x",
                                       result={"v": 2})
    assert again.result == first.result == {"v": 1}
    with pytest.raises(HopConflict):
        journal.record_exit_result(key, task_id=task_id, hop=1, seq=1, tool="t.other",
                                   result={"v": 3}, audit=record(task_id, 2))
    assert journal.lookup_exit_result(key).result_json == '{"v":1}'
    journal.close()
    assert exit_keys(store.path) == [key]
    assert audit_rows(store.path, task_id) == [("call", 200, "ok 1")]  # the conflict: none
    assert store.lookup_exit_result(key).result == {"v": 1}


def test_a_new_journal_of_the_same_hop_starts_from_every_result_recorded(store) -> None:
    task_id = task_in(store)
    first = store.open_journal(task_id, 1)
    key = f"{task_id}/1/1"
    first.record_exit_result(key, task_id=task_id, hop=1, seq=1, tool="t.x", result=[1])
    with pytest.raises(HopConflict, match="live membrane"):
        store.open_journal(task_id, 1)  # one live journal per hop
    first._release()  # its process died: the file, unflushed, is left to recovery
    retried = store.open_journal(task_id, 1)
    assert retried.lookup_exit_result(key).result == [1]
    assert retried.lookup_exit_result(f"{task_id}/1/2") is None
    assert retried.lookup_exit_result(f"{task_id}/10/1") is None


def test_the_guard_refuses_a_row_before_anything_is_written(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)

    def guard(text: str) -> None:
        if CANARY in text:
            raise ValueError("personal data")

    store.guard = guard
    with pytest.raises(Exception, match="plaintext"):
        journal.audit(record(task_id, 1, reason=CANARY))
    with pytest.raises(Exception, match="plaintext"):
        journal.record_exit_result(f"{task_id}/1/1", task_id=task_id, hop=1, seq=1,
                                   tool="t.x", result={"v": CANARY})
    assert journal.path.read_bytes() == b"" and journal.pending == 0
    journal.close()
    assert CANARY.encode() not in store.path.read_bytes()


def test_a_closed_journal_refuses_to_write(store) -> None:
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.close()
    with pytest.raises(journal_mod.JournalError, match="closed"):
        journal.audit(record(task_id, 1))


# -- crashes ----------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from siloos.store import AuditRecord, StateStore
    path, task_id, rows, flush_at, how = sys.argv[1:6]
    store = StateStore.open(path)
    journal = store.open_journal(task_id, 1)
    for n in range(int(rows)):
        journal.audit(AuditRecord(task_id, 1, "call", "t.x", ok=True, code=200,
                                  reason=f"ok {n}"))
        if n == int(flush_at):
            journal.flush()
    journal.record_exit_result(f"{task_id}/1/1", task_id=task_id, hop=1, seq=1,
                               tool="t.x", result={"refund": "rf_1"})
    print(journal.path, flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "hang":
        sys.stdin.read()
    os._exit(0)
""")


def run_child(store: StateStore, task_id: str, rows: int, flush_at: int,
              how: str = "kill") -> Path:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(store.path), task_id, str(rows),
                           str(flush_at), how], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return Path(proc.stdout.strip())


@pytest.mark.parametrize("how", ["kill", "exit"])
def test_a_killed_process_loses_no_row_and_the_next_open_folds_them_in(store, how) -> None:
    task_id = task_in(store)
    left = run_child(store, task_id, rows=10, flush_at=-1, how=how)
    assert left.exists() and audit_rows(store.path, task_id) == []
    reopened = StateStore.open(store.path)
    try:
        assert reopened.recovered.files == 1 and reopened.recovered.lines == 11
        assert [r[2] for r in audit_rows(store.path, task_id)] == [f"ok {n}" for n in range(10)]
        assert exit_keys(store.path) == [f"{task_id}/1/1"]
        assert not left.exists()
    finally:
        reopened.close()


def test_a_crash_after_a_flush_never_applies_a_line_twice(store) -> None:
    task_id = task_in(store)
    left = run_child(store, task_id, rows=6, flush_at=3)  # 0..3 folded in, 4, 5 and exit not
    assert len(audit_rows(store.path, task_id)) == 4
    found = recover_journals(store)
    assert (found.files, found.lines) == (1, 3)
    assert [r[2] for r in audit_rows(store.path, task_id)] == [f"ok {n}" for n in range(6)]
    assert not left.exists()
    assert recover_journals(store).files == 0


def test_a_retried_hop_replays_what_the_crashed_run_recorded(store) -> None:
    task_id = task_in(store)
    run_child(store, task_id, rows=1, flush_at=-1)
    journal = store.open_journal(task_id, 1)  # recovery runs before it opens
    assert journal.lookup_exit_result(f"{task_id}/1/1").result == {"refund": "rf_1"}


def test_a_live_journal_is_never_touched_by_recovery(store, tmp_path) -> None:
    task_id = task_in(store)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store.path), task_id, "3", "-1",
                             "hang"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        live = Path(proc.stdout.readline().strip())
        assert recover_journals(store).files == 0
        assert live.exists() and audit_rows(store.path, task_id) == []
    finally:
        proc.stdin.close()
        proc.wait(30)
    assert recover_journals(store).lines == 4


def test_a_torn_last_line_is_ignored(store) -> None:
    task_id = task_in(store)
    left = run_child(store, task_id, rows=3, flush_at=-1)
    with open(left, "ab") as handle:
        handle.write(b'[5,null,["' + task_id.encode() + b'",1,"call"')  # died mid-write
    found = recover_journals(store)
    assert (found.lines, found.damaged) == (4, ())
    assert len(audit_rows(store.path, task_id)) == 3


@pytest.mark.parametrize("bad", [b"not json", b'[1,null,null]', b'[0,null,["x"]]',
                                 b'{"seq": 1}', b'[2,null,[1,2,3,4,5,6,7,8,{"a":1}]]'])
def test_a_damaged_line_sets_the_file_aside_and_doctor_reports_it(store, bad) -> None:
    task_id = task_in(store)
    left = run_child(store, task_id, rows=2, flush_at=-1)
    good = left.read_bytes()
    left.write_bytes(bad + b"\n" + good)
    found = recover_journals(store)
    assert found.lines == 0 and found.damaged == (left.name,)
    assert audit_rows(store.path, task_id) == []
    assert damaged_journals(store.path) == [left.with_name(left.name + DAMAGED_SUFFIX)]
    check = journal_check(store.path)
    assert not check.ok and "damaged" in check.detail
    assert journal_check(store.path.parent / "elsewhere" / "state.db").ok


def test_recovery_ignores_other_files(store) -> None:
    folder = journal_dir(store.path)
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("hello")
    assert recover_journals(store).files == 0
    assert (folder / "notes.txt").exists()


# -- through a real membrane ------------------------------------------------------------


@pytest.fixture
def hop(tmp_path: Path) -> Hop:
    h = make_hop(tmp_path / "ws")
    yield h
    h.store.close()
    h.backoffice.close()


def test_a_served_membrane_folds_its_rows_in_once_idle(hop, tmp_path) -> None:
    path = tmp_path / "m.sock"
    with served(hop, path):
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(hop.frame("task", 1))
        assert json.loads(conn.makefile("rb").readline())["ok"] is True
        deadline = time.monotonic() + 10
        while not audit_rows(hop.store.path, hop.task_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert audit_rows(hop.store.path, hop.task_id) == [("task", 200, "ok")]
        conn.close()
    assert not hop.membrane.journal.path.exists()


def test_a_membrane_never_stopped_leaves_a_journal_the_next_open_folds_in(hop) -> None:
    reply = hop.call("refunds.issue", order=hop.tokens["ord"], amount=10, reason="x")
    assert reply["ok"] is True
    left = hop.membrane.journal.path
    hop.membrane.journal._release()  # as if the process died: file and rows stay on disk
    reopened = StateStore.open(hop.store.path)
    try:
        assert reopened.recovered.files == 1
        assert [r[0] for r in audit_rows(hop.store.path, hop.task_id)] == ["call"]
        assert exit_keys(hop.store.path) == [f"{hop.task_id}/1/1"]
        assert not left.exists()
    finally:
        reopened.close()


def test_journal_writes_fail_closed(hop, monkeypatch) -> None:
    """A journal that cannot be written: the call's reply is an error, never a silent ok."""
    def broken(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_mod, "_write_all", broken)
    reply = hop.call("refunds.issue", order=hop.tokens["ord"], amount=10, reason="x")
    assert reply["ok"] is False and reply["error"]["code"] == 500
    # Not only calls: no success is confirmed without its audit row.
    for op, fields in (("task", {}), ("note", {"text": "hello"})):
        reply = hop.send(op, 7, **fields)
        assert reply == {"id": 7, "ok": False, "error": {
            "code": 500, "type": "internal_error", "message": "audit unavailable"}}


# -- one live membrane per hop; only this user's files ----------------------------------


def test_a_hop_has_one_live_journal_across_processes(store) -> None:
    task_id = task_in(store)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store.path), task_id, "1", "-1",
                             "hang"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # the child's journal is open
        with pytest.raises(HopConflict, match="live membrane"):
            store.open_journal(task_id, 1)
        other_hop = store.open_journal(task_id, 2)  # another hop of the task is fine
        other_hop.close()
    finally:
        proc.stdin.close()
        proc.wait(30)
    journal = store.open_journal(task_id, 1)  # the child is gone: its lock went with it
    assert journal.lookup_exit_result(f"{task_id}/1/1").result == {"refund": "rf_1"}
    journal.close()
    assert sorted(p.name for p in journal_dir(store.path).iterdir()) == []


def test_an_untrusted_journal_folder_is_neither_written_nor_recovered(store) -> None:
    task_id = task_in(store)
    left = run_child(store, task_id, rows=2, flush_at=-1)
    folder = journal_dir(store.path)
    folder.chmod(0o777)
    try:
        with pytest.raises(journal_mod.JournalError, match="writable by others"):
            store.open_journal(task_id, 1)
        assert recover_journals(store).lines == 0 and left.exists()
        check = journal_check(store.path)
        assert not check.ok and "writable by others" in check.detail
    finally:
        folder.chmod(0o700)
    assert recover_journals(store).lines == 3


@pytest.mark.parametrize("kind", ["fifo", "group-readable"])
def test_files_this_user_did_not_write_privately_are_set_aside(store, kind) -> None:
    folder = journal_dir(store.path)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"planted.1.1.abc{journal_mod.SUFFIX}"
    if kind == "fifo":
        os.mkfifo(path, 0o600)  # opening it for reading must not hang the store
    else:
        path.write_text("[1,null,[\"t\",1,\"call\",null,1,200,\"forged\",null,\"x\"]]\n")
        path.chmod(0o640)
    found = recover_journals(store)
    assert found.lines == 0 and found.damaged == (path.name,)
    assert damaged_journals(store.path) == [path.with_name(path.name + DAMAGED_SUFFIX)]


def test_an_exit_result_of_a_task_that_does_not_exist_is_audited_not_lost(store) -> None:
    """The batch still lands: the other rows in order, the orphan named in the trail."""
    task_id = task_in(store)
    journal = store.open_journal(task_id, 1)
    journal.audit(record(task_id, 1))
    journal.record_exit_result(f"{task_id}/1/1", task_id=task_id, hop=1, seq=1, tool="t.x",
                               result=[1], audit=record(task_id, 2))
    journal.record_exit_result("task_nosuchtask/1/1", task_id="task_nosuchtask", hop=1,
                               seq=1, tool="t.y", result=[2], audit=record(task_id, 3))
    journal.close()
    assert exit_keys(store.path) == [f"{task_id}/1/1"]
    assert [r[2] for r in audit_rows(store.path, task_id)] == ["ok 1", "ok 2", "ok 3"]
    assert [r[2] for r in audit_rows(store.path, "task_nosuchtask")] == [
        "exit result not stored: unknown task"]
