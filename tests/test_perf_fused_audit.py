"""One commit per membrane call: the exit's result and the call's audit row written together.

Checks the mechanism, not its speed: a successful call leaves exactly one audit row (with
the same detail the membrane always wrote) and one recorded result; a refused audit detail
still records the result and audits the call without the detail; a conflicting record
writes no audit row; remembered token resolutions never remember a refusal; a revocation
made elsewhere refuses the very next request; the hop-end checkpoint runs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from test_membrane_support import Hop

from siloos.membrane.memo import RememberedResolver
from siloos.privacy.vault import TokenOutOfScope
from siloos.store import AuditRecord, HopConflict

CANARY = "audit-canary-7f3a"
#: The right answer for the hop's email token: identity.verify may stop answering a token
#: after repeated wrong guesses, and these tests call it many times.
RIGHT = hashlib.sha256(b"odalys.fernwhistle@example.com").hexdigest()


def exit_rows(hop: Hop) -> list[tuple]:
    hop.store.flush_journals()  # read straight from state.db: fold the hop's journal in
    return hop.store.conn.execute(
        "SELECT idempotency_key, tool, at FROM exit_calls WHERE task_id = ? ORDER BY seq",
        (hop.task_id,)).fetchall()


def test_a_call_writes_one_result_and_one_audit_row(hop):
    before = len(hop.audit())
    reply = hop.call("identity.verify", 5, token=hop.tokens["email"], value_sha256=RIGHT)
    assert reply["ok"] is True and reply["result"] == {"match": True}
    rows = hop.audit()[before:]
    assert len(rows) == 1
    row = rows[0]
    assert (row["op"], row["tool"], row["ok"], row["code"], row["reason"]) == \
        ("call", "identity.verify", True, 200, "ok")
    assert row["detail"] == {"id": 5, "step": "record_result", "seq": 1,
                             "args": {"token": hop.tokens["email"], "value_sha256": RIGHT}}
    results = exit_rows(hop)
    assert [(k, t) for k, t, _ in results] == [(f"{hop.task_id}/1/1", "identity.verify")]
    assert results[0][2] == row["at"]  # one transaction, one timestamp


def test_audit_row_keeps_args_tokenized(hop):
    hop.call("refunds.issue", order=hop.tokens["ord"], amount=10,
             reason="from odalys.fernwhistle@example.com")
    row = hop.last_audit()
    assert row["ok"] is True
    assert "odalys.fernwhistle@example.com" not in json.dumps(row)
    assert hop.tokens["email"] in row["detail"]["args"]["reason"]


def test_refused_audit_detail_still_records_the_result_and_audits_the_call(hop):
    def guard(text: str) -> None:
        if CANARY in text:
            raise ValueError("looks like personal data")

    hop.store.guard = guard
    before = len(hop.audit())
    reply = hop.call("refunds.issue", order=hop.tokens["ord"], amount=10, reason=CANARY)
    assert reply["ok"] is True
    assert len(exit_rows(hop)) == 1  # recorded once...
    assert len(hop.backoffice.refunds("O-5001")) == 1  # ...and the exit not run twice
    rows = hop.audit()[before:]
    assert len(rows) == 1
    assert rows[0]["ok"] is True and "audit detail dropped" in rows[0]["reason"]
    assert CANARY not in json.dumps(rows)


def test_conflicting_record_writes_no_audit_row(hop):
    store = hop.store
    key = f"{hop.task_id}/1/9"
    store.record_exit_result(key, task_id=hop.task_id, hop=1, seq=9, tool="orders.get",
                             result={"x": 1})
    before = len(hop.audit())
    with pytest.raises(HopConflict):
        store.record_exit_result(key, task_id=hop.task_id, hop=1, seq=9, tool="email.send",
                                 result={}, audit=AuditRecord(hop.task_id, 1, "call",
                                                              "email.send", ok=True, code=200,
                                                              reason="ok"))
    assert len(hop.audit()) == before


def test_replayed_record_returns_the_first_result_with_its_audit_row(hop):
    store = hop.store
    key = f"{hop.task_id}/1/4"
    first = store.record_exit_result(key, task_id=hop.task_id, hop=1, seq=4, tool="t",
                                     result={"n": 1})
    again = store.record_exit_result(key, task_id=hop.task_id, hop=1, seq=4, tool="t",
                                     result={"n": 2},
                                     audit=AuditRecord(hop.task_id, 1, "call", "t", ok=True,
                                                       code=200, reason="ok"))
    assert first.result == again.result == {"n": 1}
    assert hop.last_audit()["tool"] == "t"


def test_revocation_from_another_process_refuses_the_next_request(hop, tmp_path):
    args = {"token": hop.tokens["email"], "value_sha256": RIGHT}
    assert hop.call("identity.verify", **args)["ok"] is True
    assert hop.call("identity.verify", **args)["ok"] is True  # keys and state now cached
    code = ("import sys; from siloos.keys.revocations import SqliteRevocations; "
            "SqliteRevocations(sys.argv[1]).revoke(sys.argv[2], reason='operator')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / ".silo" / "state.db"),
                    hop.task_jti], check=True)
    reply = hop.call("identity.verify", **args)
    assert reply["ok"] is False and reply["error"]["code"] == 409
    row = hop.last_audit()
    assert row["ok"] is False and row["reason"] == "task key has been revoked"


class CountingVault:
    """A vault double: one real-looking value per token of scope "s1"; counts lookups."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def resolve(self, token: str, scope: str) -> str:
        self.asked.append((token, scope))
        if scope != "s1":
            raise TokenOutOfScope()
        return f"real-{token}"


def test_resolutions_are_remembered_per_token_and_scope():
    vault = CountingVault()
    resolver = RememberedResolver(vault)
    assert resolver.resolve("email_tk_aaaaaaaaaaaa", "s1") == "real-email_tk_aaaaaaaaaaaa"
    assert resolver.resolve("email_tk_aaaaaaaaaaaa", "s1") == "real-email_tk_aaaaaaaaaaaa"
    assert vault.asked == [("email_tk_aaaaaaaaaaaa", "s1")]


def test_refusals_are_never_remembered():
    vault = CountingVault()
    resolver = RememberedResolver(vault)
    resolver.resolve("email_tk_aaaaaaaaaaaa", "s1")
    for _ in range(2):  # the same token in another scope is asked, and refused, each time
        with pytest.raises(TokenOutOfScope):
            resolver.resolve("email_tk_aaaaaaaaaaaa", "s2")
    assert vault.asked.count(("email_tk_aaaaaaaaaaaa", "s2")) == 2


def test_remembered_resolutions_are_bounded():
    vault = CountingVault()
    resolver = RememberedResolver(vault, size=2)
    for token in ("email_tk_aaaaaaaaaaaa", "email_tk_bbbbbbbbbbbb", "email_tk_cccccccccccc"):
        resolver.resolve(token, "s1")
    resolver.resolve("email_tk_aaaaaaaaaaaa", "s1")  # forgotten when the memory filled
    assert vault.asked.count(("email_tk_aaaaaaaaaaaa", "s1")) == 2


def test_checkpoint_folds_the_log_into_the_database(hop):
    db = hop.root / ".silo" / "state.db"
    for i in range(40):
        assert hop.call("identity.verify", i, token=hop.tokens["email"],
                        value_sha256=RIGHT)["ok"] is True
    size = db.stat().st_size
    assert hop.store.checkpoint() is True
    assert db.stat().st_size > size  # the audit rows' pages reached the database file
    with hop.store.transaction():  # never inside a write transaction
        assert hop.store.checkpoint() is False


def test_membrane_stop_checkpoints(hop):
    import asyncio

    db = hop.root / ".silo" / "state.db"
    for i in range(40):
        assert hop.call("identity.verify", i, token=hop.tokens["email"],
                        value_sha256=RIGHT)["ok"] is True
    size = db.stat().st_size
    asyncio.run(hop.membrane.stop())
    assert db.stat().st_size > size
