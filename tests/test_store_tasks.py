"""Task store round trips and the JSON shapes of design §10."""

from __future__ import annotations

import json

import pytest

from siloos.store import (
    HopConflict,
    PlaintextRefused,
    StateStore,
    StoreError,
    UnknownTask,
    is_task_id,
)

LIST_KEYS = {"task_id", "state", "agent", "workflow", "reason", "created_at", "updated_at"}
SHOW_KEYS = {"task_id", "state", "reason", "hops", "events"}
HOP_KEYS = {"hop", "agent", "status", "summary", "output", "key_jti", "started_at", "ended_at",
            "stdout", "stderr"}


def new_task(store: StateStore, **kw) -> str:
    args = {"agent": "refund-agent", "channel": "cli", "customer_scope": "scope_1",
            "customer_token": "cust_tk_0123456789ab", "case_token": "case_tk_0123456789ab",
            "input": {"message": "my order arrived broken, email_tk_0123456789ab"}}
    args.update(kw)
    return store.create_task(**args)


def test_create_and_get_task_round_trip(store):
    task_id = new_task(store)
    assert is_task_id(task_id)
    task = store.get_task(task_id)
    assert task["state"] == "queued"
    assert task["customer_token"] == "cust_tk_0123456789ab"
    assert task["input"] == {"message": "my order arrived broken, email_tk_0123456789ab"}
    assert task["channel"] == "cli"


def test_task_ids_are_distinct(store):
    ids = {new_task(store) for _ in range(50)}
    assert len(ids) == 50


def test_task_needs_agent_or_workflow(store):
    with pytest.raises(StoreError, match="agent or a workflow"):
        store.create_task(input={})


def test_unknown_task_is_a_usage_error(store):
    with pytest.raises(UnknownTask) as err:
        store.show("task_aaaaaaaaaaaaaaaa")
    assert err.value.exit_code == 2


def test_list_shape_and_filters(store):
    first = new_task(store)
    second = new_task(store, agent=None, workflow="refunds")
    store.set_state(first, "done", reason="refunded")
    rows = store.list_tasks()
    assert [r["task_id"] for r in rows] == [second, first]  # newest first
    assert all(set(r) == LIST_KEYS for r in rows)
    assert rows[0]["workflow"] == "refunds" and rows[0]["agent"] is None
    assert [r["task_id"] for r in store.list_tasks(state="done")] == [first]
    assert store.list_tasks(state="done")[0]["reason"] == "refunded"
    assert len(store.list_tasks(limit=1)) == 1
    json.dumps(rows)


@pytest.mark.parametrize("bad", [{"state": "finished"}, {"limit": 0}, {"limit": True}])
def test_list_refuses_bad_filters(store, bad):
    with pytest.raises(StoreError):
        store.list_tasks(**bad)


def test_show_shape_hops_and_events(store):
    task_id = new_task(store)
    store.set_state(task_id, "running")
    store.start_hop(task_id, 1, "refund-agent", "jti-1")
    assert store.hop_active(task_id, 1)
    store.finish_hop(task_id, 1, status=301, summary={"why": "above limit"},
                     output={"order": "ord_tk_0123456789ab"}, redirect="manager-agent",
                     stdout="out", stderr="")
    assert not store.hop_active(task_id, 1)
    shown = store.show(task_id)
    assert set(shown) == SHOW_KEYS
    assert len(shown["hops"]) == 1
    hop = shown["hops"][0]
    assert set(hop) == HOP_KEYS
    assert hop["status"] == 301 and hop["summary"] == {"why": "above limit"}
    assert hop["output"] == {"order": "ord_tk_0123456789ab"}
    assert hop["key_jti"] == "jti-1" and hop["ended_at"] is not None
    assert store.hops(task_id)[0]["redirect"] == "manager-agent"
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds == ["created", "state", "hop_started", "hop_finished"]
    assert all({"kind", "hop", "at"} <= set(e) for e in shown["events"])
    json.dumps(shown)


def test_hop_status_may_be_timeout(store):
    task_id = new_task(store)
    store.start_hop(task_id, 1, "refund-agent", None)
    store.finish_hop(task_id, 1, status="timeout", stderr="killed after 60 s")
    assert store.show(task_id)["hops"][0]["status"] == "timeout"


def test_hop_lifecycle_conflicts(store):
    task_id = new_task(store)
    with pytest.raises(HopConflict):
        store.finish_hop(task_id, 1, status=200)
    store.start_hop(task_id, 1, "refund-agent", "j1")
    with pytest.raises(HopConflict):
        store.start_hop(task_id, 1, "refund-agent", "j2")
    with pytest.raises(StoreError, match="status"):
        store.finish_hop(task_id, 1, status=201)
    store.finish_hop(task_id, 1, status=200)
    with pytest.raises(HopConflict):
        store.finish_hop(task_id, 1, status=200)
    assert store.next_hop(task_id) == 2
    with pytest.raises(UnknownTask):
        store.start_hop("task_aaaaaaaaaaaaaaaa", 1, "refund-agent", "j3")


def test_final_states_stay_final(store):
    task_id = new_task(store)
    store.start_hop(task_id, 1, "refund-agent", "j1")
    store.set_state(task_id, "aborted", reason="operator")
    assert not store.hop_active(task_id, 1)  # an aborted task has no live hop
    with pytest.raises(StoreError, match="already aborted"):
        store.set_state(task_id, "running")
    with pytest.raises(HopConflict):
        store.start_hop(task_id, 2, "refund-agent", "j2")


def test_unfinished_hops_are_listed_for_recovery(store):
    a, b = new_task(store), new_task(store)
    store.start_hop(a, 1, "refund-agent", "ja")
    store.start_hop(b, 1, "refund-agent", "jb")
    store.finish_hop(b, 1, status=200)
    assert [(h["task_id"], h["hop"]) for h in store.unfinished_hops()] == [(a, 1)]


def test_claim_queued_takes_oldest_once(store):
    first, second = new_task(store), new_task(store)
    assert store.claim_queued() == first
    assert store.claim_queued() == second
    assert store.claim_queued() is None
    assert store.get_task(first)["state"] == "running"


def test_revoke_adds_key_revoked_event_once(store):
    task_id = new_task(store)
    store.start_hop(task_id, 1, "refund-agent", "jti-9")
    assert not store.is_revoked("jti-9")
    assert store.revoke("jti-9", task_id=task_id, hop=1, reason="hop finished") is True
    assert store.revoke("jti-9", task_id=task_id, hop=1, reason="again") is False
    assert store.is_revoked("jti-9")
    revoked = [e for e in store.show(task_id)["events"] if e["kind"] == "key_revoked"]
    assert len(revoked) == 1
    assert revoked[0]["jti"] == "jti-9" and revoked[0]["hop"] == 1


def test_base_key_revocation_needs_no_task(store):
    assert store.revoke("base-jti", reason="operator")
    assert store.is_revoked("base-jti")


def test_events_are_flat_and_reserved_names_refused(store):
    task_id = new_task(store)
    store.add_event(task_id, "note", {"text": "checked order"}, hop=1)
    last = store.events(task_id)[-1]
    assert last["kind"] == "note" and last["text"] == "checked order" and last["hop"] == 1
    with pytest.raises(StoreError, match="reserved"):
        store.add_event(task_id, "note", {"kind": "x"})
    with pytest.raises(StoreError, match="kind"):
        store.add_event(task_id, "Bad Kind", {})
    with pytest.raises(UnknownTask):
        store.add_event("task_aaaaaaaaaaaaaaaa", "note", {})


def test_audit_round_trip_including_unknown_task(store):
    task_id = new_task(store)
    store.audit(task_id, 1, op="call", tool="refunds.issue", ok=False, code=403,
                reason="amount 600 exceeds max_amount 500", detail={"amount": 600})
    store.audit(task_id, 1, op="call", tool="orders.get", ok=True, code=200)
    # A refusal that names no real task is still recorded.
    store.audit("task_forgedforgedforg", 3, op="call", ok=False, code=401, reason="bad key")
    entries = store.audit_events(task_id)
    assert [(e["tool"], e["ok"], e["code"]) for e in entries] == [
        ("refunds.issue", False, 403), ("orders.get", True, 200)]
    assert entries[0]["detail"] == {"amount": 600}
    assert len(store.audit_events("task_forgedforgedforg")) == 1


def test_llm_usage_accumulates(store):
    task_id = new_task(store)
    store.add_llm_usage(task_id, 1, "refund-agent", input_tokens=100, output_tokens=20)
    store.add_llm_usage(task_id, 1, "refund-agent", input_tokens=50, output_tokens=5)
    assert store.llm_usage(task_id) == [{"task_id": task_id, "hop": 1, "agent": "refund-agent",
                                         "calls": 2, "input_tokens": 150, "output_tokens": 25}]
    with pytest.raises(StoreError):
        store.add_llm_usage(task_id, 1, "refund-agent", input_tokens=-1, output_tokens=0)


def test_exit_results_are_idempotent(store):
    task_id = new_task(store)
    key = f"{task_id}/1/3"
    assert store.lookup_exit_result(key) is None
    first = store.record_exit_result(key, task_id=task_id, hop=1, seq=3, tool="refunds.issue",
                                     result={"refund_id": "rf_1", "status": "issued"})
    again = store.record_exit_result(key, task_id=task_id, hop=1, seq=3, tool="refunds.issue",
                                     result={"refund_id": "rf_2", "status": "issued"})
    assert again.result == first.result == {"refund_id": "rf_1", "status": "issued"}
    assert store.lookup_exit_result(key).result == {"refund_id": "rf_1", "status": "issued"}
    count = store.conn.execute("SELECT COUNT(*) FROM exit_calls").fetchone()[0]
    assert count == 1
    with pytest.raises(HopConflict):
        store.record_exit_result(key, task_id=task_id, hop=1, seq=3, tool="email.send",
                                 result={})


class CanaryGuard:
    """A stand-in detector: refuses any text containing the canary address."""

    def __call__(self, text: str) -> None:
        if "canary@example.com" in text:
            raise ValueError("found email canary@example.com")


def test_plaintext_guard_refuses_and_stores_nothing(tmp_path):
    with StateStore.open(tmp_path / "state.db", guard=CanaryGuard()) as store:
        with pytest.raises(PlaintextRefused) as err:
            store.create_task(agent="refund-agent", input={"message": "I am canary@example.com"})
        # The refusal never repeats the value it found.
        assert "canary@example.com" not in str(err.value)
        assert store.list_tasks() == []
        task_id = new_task(store)
        for write in (
            lambda: store.add_event(task_id, "note", {"text": "canary@example.com"}),
            lambda: store.audit(task_id, 1, op="note", ok=True, reason="canary@example.com"),
            lambda: store.set_state(task_id, "failed", reason="mail canary@example.com"),
        ):
            with pytest.raises(PlaintextRefused):
                write()
        store.start_hop(task_id, 1, "refund-agent", "j")
        with pytest.raises(PlaintextRefused):
            store.finish_hop(task_id, 1, status=200, stdout="canary@example.com")
        assert store.hop_active(task_id, 1)
        dump = "\n".join(store.conn.iterdump())
        assert "canary@example.com" not in dump


def test_guard_can_be_installed_later(store):
    store.guard = CanaryGuard()
    with pytest.raises(PlaintextRefused):
        new_task(store, input={"m": "canary@example.com"})
    store.guard = None
    new_task(store, input={"m": "fine"})


def test_non_json_input_is_refused(store):
    with pytest.raises(StoreError, match="JSON"):
        new_task(store, input={"x": object()})
    with pytest.raises(StoreError, match="JSON"):
        new_task(store, input={"x": float("nan")})
