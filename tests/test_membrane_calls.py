"""The membrane's request path (handle_line) against real keys, store, vault and exits:
valid calls, and every refusal of §5 with its code, type and an audit row with the reason."""

from __future__ import annotations

import json
import time

import pytest
from test_membrane_support import AGENT, CAPS, CUSTOMER, LIMITS, Hop, make_hop

from siloos.keys.mint import mint_task_key
from siloos.membrane import checks
from siloos.membrane.checks import EmptyPipeline, Pipeline


def assert_refused(hop: Hop, reply: dict, code: int, etype: str | None = None,
                   words: str | None = None) -> dict:
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == code, reply
    if etype:
        assert reply["error"]["type"] == etype, reply
    if words:
        assert words in reply["error"]["message"], reply
    row = hop.last_audit()
    assert row["ok"] is False and row["code"] == code
    assert row["reason"] == reply["error"]["message"]
    return row


def test_task_op_returns_the_tokenized_payload(hop):
    reply = hop.send("task", 7)
    assert reply == {"id": 7, "ok": True, "result": {
        "task_id": hop.task_id, "agent": AGENT,
        "input": {"message": f"refund please, {hop.tokens['name']}",
                  "customer": hop.tokens["cust"]},
        "history": [], "outcomes": {"200": "done"}}}
    assert hop.last_audit()["op"] == "task" and hop.last_audit()["ok"] is True


def test_valid_call_hydrates_inside_and_tokenizes_what_comes_back(hop):
    reply = hop.call("customers.get", "c1", customer=hop.tokens["cust"])
    assert reply["ok"] is True and reply["id"] == "c1"
    result = reply["result"]
    assert result["customer"] == hop.tokens["cust"]
    assert result["email"] == hop.tokens["email"] and result["name"] == hop.tokens["name"]
    assert result["phone"].startswith("phone_tk_") and result["address"].startswith("addr_tk_")
    text = json.dumps(reply)
    for real in (CUSTOMER, "Odalys", "odalys.fernwhistle@example.com", "202-555-0147"):
        assert real not in text
    row = hop.last_audit()
    assert row["ok"] is True and row["tool"] == "customers.get"


def test_orders_are_tokenized_and_refund_works_within_limit(hop):
    orders = hop.call("orders.list", customer=hop.tokens["cust"])["result"]
    assert {o["order"] for o in orders} >= {hop.tokens["ord"], hop.tokens["ord_big"]}
    assert all(not o["order"].startswith("O-") for o in orders)
    reply = hop.call("refunds.issue", 2, order=hop.tokens["ord"], amount=49.99,
                     reason="damaged")
    assert reply["ok"] is True and reply["result"]["status"] == "issued"
    refunds = hop.backoffice.refunds("O-5001")
    assert len(refunds) == 1 and refunds[0]["amount"] == 49.99


def test_email_send_hydrates_to_and_variables_host_side(hop):
    reply = hop.call("email.send", to=hop.tokens["email"], template="refund-confirmation",
                     variables={"name": hop.tokens["name"], "amount": "49.99"})
    assert reply["ok"] is True, reply
    sent = hop.backoffice.outbox()[-1]
    assert sent["to"] == "odalys.fernwhistle@example.com"
    assert "Hello Odalys Fernwhistle" in sent["body"]
    assert "Odalys" not in json.dumps(hop.audit())


def test_over_limit_amount_is_403_limit_exceeded(hop):
    reply = hop.call("refunds.issue", order=hop.tokens["ord_big"], amount=600, reason="x")
    assert_refused(hop, reply, 403, "limit_exceeded", "amount 600 exceeds max_amount 500")
    assert hop.backoffice.refunds("O-5002") == []


def test_constraint_the_call_leaves_out_is_403(tmp_path):
    h = make_hop(tmp_path, caps={"tests.tickets": {"queues": ["billing"]}})
    try:
        reply = h.call("tests.tickets", title="help")
        assert_refused(h, reply, 403, "limit_exceeded",
                       "queues limits 'queue', which the call leaves out")
        assert_refused(h, h.call("tests.tickets", title="help", queue="sales"), 403,
                       "limit_exceeded", "is not allowed by queues")
        assert h.call("tests.tickets", title="help", queue="billing")["ok"] is True
    finally:
        h.store.close()
        h.backoffice.close()


def test_template_not_allowed(hop):
    reply = hop.call("email.send", to=hop.tokens["email"], template="secret-offer")
    assert_refused(hop, reply, 403, None, "template 'secret-offer' is not allowed by templates")
    assert hop.backoffice.outbox() == []


def test_capability_missing_is_403(tmp_path):
    caps = {"orders.get": {}}
    h = make_hop(tmp_path, caps=caps)
    try:
        reply = h.call("refunds.issue", order=h.tokens["ord"], amount=1, reason="x")
        assert_refused(h, reply, 403, "forbidden", "capability missing")
    finally:
        h.store.close()
        h.backoffice.close()


def test_narrow_restricts_exits_and_tightens_limits(tmp_path):
    h = make_hop(tmp_path, narrow={"refunds.issue": {"max_amount": 100}})
    try:
        assert_refused(h, h.call("orders.get", order=h.tokens["ord"]), 403, None,
                       "not granted for this task")
        assert_refused(h, h.call("refunds.issue", order=h.tokens["ord"], amount=120,
                                 reason="x"), 403, "limit_exceeded", "exceeds max_amount")
        assert h.call("refunds.issue", order=h.tokens["ord"], amount=99, reason="x")["ok"]
    finally:
        h.store.close()
        h.backoffice.close()


def test_narrow_order_list_names_tokens_resolved_before_comparing(tmp_path):
    h = make_hop(tmp_path)
    try:
        # The router names the one order this hop may refund by its token.
        minted = mint_task_key(h.ring, agent=AGENT, task_id=h.task_id, hop=1,
                               customer_token=h.tokens["cust"], case_token=None,
                               wall_seconds=60, caps=CAPS,
                               narrow={"refunds.issue": {"orders": [h.tokens["ord"]]}})
        h.task_key = minted.token
        assert h.call("refunds.issue", order=h.tokens["ord"], amount=5, reason="x")["ok"]
        reply = h.call("refunds.issue", order=h.tokens["ord_big"], amount=5, reason="x")
        assert_refused(h, reply, 403, "limit_exceeded", "is not allowed by orders")
        assert "O-5002" not in json.dumps(reply)
        assert h.backoffice.refunds("O-5002") == []
    finally:
        h.store.close()
        h.backoffice.close()


def test_undeclared_tool_is_404(hop):
    assert_refused(hop, hop.call("payments.wire", amount=1), 404, "not_found", "unknown tool")
    # `llm` is an op, not something `call` reaches.
    assert_refused(hop, hop.call("llm", messages=[]), 404, "not_found")


def test_bad_args_are_400(hop):
    assert_refused(hop, hop.call("refunds.issue", order=hop.tokens["ord"], amount="600",
                                 reason="x"), 400, "bad_request", "'amount' must be number")
    assert_refused(hop, hop.call("refunds.issue", order=hop.tokens["ord"], amount=True,
                                 reason="x"), 400, "bad_request")
    assert_refused(hop, hop.call("refunds.issue", order=hop.tokens["ord"], amount=1),
                   400, "bad_request", "missing argument 'reason'")
    assert_refused(hop, hop.call("orders.get", order=hop.tokens["ord"], debug=True),
                   400, "bad_request", "unknown argument 'debug'")


def test_another_customers_tokens_are_403(hop):
    for tool, args in (("orders.get", {"order": hop.other_tokens["ord"]}),
                       ("customers.get", {"customer": hop.other_tokens["cust"]}),
                       ("email.send", {"to": hop.other_tokens["email"],
                                       "template": "refund-confirmation"})):
        reply = hop.call(tool, **args)
        assert_refused(hop, reply, 403, "forbidden", "outside this task's scope")
    assert hop.backoffice.outbox() == []


def test_foreign_token_hidden_in_free_text_is_403(hop):
    reply = hop.call("refunds.issue", order=hop.tokens["ord"], amount=1,
                     reason=f"as agreed with {hop.other_tokens['email']}")
    assert_refused(hop, reply, 403, "forbidden", "outside this task's scope")


@pytest.mark.parametrize("mangle", [
    lambda t: t.upper(), lambda t: t.replace("_tk_", "-tk-"), lambda t: t[:-3],
    lambda t: t.replace("ord_", "odr_"), lambda t: t + "Z",
])
def test_near_miss_tokens_are_403(hop, mangle):
    reply = hop.call("orders.get", order=mangle(hop.tokens["ord"]))
    assert_refused(hop, reply, 403, "forbidden")


def test_plain_value_where_a_token_is_hydrated_is_403(hop):
    reply = hop.call("email.send", to="attacker@evil.example", template="refund-confirmation")
    assert_refused(hop, reply, 403, "forbidden", "must be a token of this task")
    reply = hop.call("orders.get", order="O-5004")
    assert_refused(hop, reply, 403, "forbidden", "must be a token of this task")
    assert hop.backoffice.outbox() == []


def test_budget_exhausted_is_429(tmp_path):
    h = make_hop(tmp_path, limits={**LIMITS, "tool_calls": 2})
    try:
        assert h.call("orders.get", order=h.tokens["ord"])["ok"]
        assert h.call("orders.get", order=h.tokens["ord"])["ok"]
        assert_refused(h, h.call("orders.get", order=h.tokens["ord"]), 429,
                       "budget_exhausted", "tool_calls")
    finally:
        h.store.close()
        h.backoffice.close()


def test_exit_refusal_is_403_with_its_message(hop):
    reply = hop.call("refunds.issue", order=hop.tokens["ord"], amount=300, reason="x")
    assert_refused(hop, reply, 403, "forbidden", "amount exceeds the order total")


def test_exit_bug_is_500_and_detail_only_in_audit_tokenized(hop):
    reply = hop.call("tests.boom")
    row = assert_refused(hop, reply, 500, "exit_failed", "exit failed")
    assert "exploded" not in reply["error"]["message"]
    assert "RuntimeError" in row["detail"]["exit_error"]
    assert CUSTOMER not in json.dumps(hop.audit())
    assert hop.tokens["cust"] in row["detail"]["exit_error"]


def test_audit_holds_tokenized_args_never_real_values(hop):
    hop.call("refunds.issue", order=hop.tokens["ord"], amount=10,
             reason="customer wrote from odalys.fernwhistle@example.com")
    row = hop.last_audit()
    assert row["detail"]["args"]["order"] == hop.tokens["ord"]
    assert "odalys.fernwhistle@example.com" not in json.dumps(hop.audit())
    assert "O-5001" not in json.dumps(hop.audit())


def test_calls_are_idempotent_per_task_hop_and_sequence(hop):
    first = hop.call("refunds.issue", order=hop.tokens["ord"], amount=10, reason="x")
    assert first["ok"]
    # A retried hop replays the same calls in the same order with a fresh membrane, once
    # the first is gone (as if its process died: its journal is left to recovery).
    from siloos.membrane.server import Membrane

    hop.membrane.journal._release()
    hop.membrane = Membrane(hop.membrane.session, verifier=hop.verifier,
                            registry=hop.registry, store=hop.store, tokenizer=hop.tokenizer,
                            services=hop.services)
    again = hop.call("refunds.issue", order=hop.tokens["ord"], amount=10, reason="x")
    assert again["result"] == first["result"]
    assert len(hop.backoffice.refunds("O-5001")) == 1
    assert hop.last_audit()["detail"].get("replayed") is True
    # A replay that diverges at the same position is refused rather than acted on twice.
    diverged = hop.call("orders.get", order=hop.tokens["ord"])  # seq 2: fresh, fine
    assert diverged["ok"]
    hop.membrane.close_journal()  # one live membrane per hop
    hop.membrane = Membrane(hop.membrane.session, verifier=hop.verifier,
                            registry=hop.registry, store=hop.store, tokenizer=hop.tokenizer,
                            services=hop.services)
    assert_refused(hop, hop.call("orders.get", order=hop.tokens["ord"]), 409, None,
                   "already made with refunds.issue")


def test_note_is_tokenized_and_recorded(hop):
    reply = hop.send("note", text="Customer odalys.fernwhistle@example.com called twice")
    assert reply == {"id": 1, "ok": True, "result": {}}
    notes = [e for e in hop.store.events(hop.task_id) if e["kind"] == "note"]
    assert notes and hop.tokens["email"] in notes[-1]["text"]
    assert "odalys" not in json.dumps(notes)


def test_finish_revokes_the_task_key_and_ends_the_hop(hop):
    reply = hop.send("finish", 9, status=200, output={"refund": "r1"},
                     summary={"done": True, "to": "odalys.fernwhistle@example.com"})
    assert reply == {"id": 9, "ok": True, "result": {}}
    record = hop.membrane.finish_record
    assert record["status"] == 200 and record["summary"]["to"] == hop.tokens["email"]
    assert hop.membrane.finished.is_set()
    assert hop.store.is_revoked(hop.task_jti)
    assert any(e["kind"] == "key_revoked" for e in hop.store.events(hop.task_id))
    # The finished task's key gets 409 on every op, here and on a fresh membrane.
    for op, fields in (("task", {}), ("note", {"text": "x"}),
                       ("call", {"tool": "orders.get", "args": {"order": hop.tokens["ord"]}}),
                       ("finish", {"status": 200})):
        assert_refused(hop, hop.send(op, **fields), 409, "task_inactive")


def test_finish_redirect_rules(hop):
    assert_refused(hop, hop.send("finish", status=301), 400, "bad_request", "needs a redirect")
    assert_refused(hop, hop.send("finish", status=302, redirect="root-agent"), 403,
                   "forbidden", "not an allowed escalation target")
    assert_refused(hop, hop.send("finish", status=201), 400, "bad_request")
    assert hop.membrane.finish_record is None
    assert hop.send("finish", status=301, redirect="manager-agent")["ok"] is True
    assert hop.membrane.finish_record["redirect"] == "manager-agent"


def test_llm_without_provider_is_404(hop):
    reply = hop.send("llm", messages=[{"role": "user", "content": "hi"}])
    assert_refused(hop, reply, 404, "not_found", "llm not available")


def test_empty_pipeline_is_refused():
    with pytest.raises(EmptyPipeline):
        Pipeline([])


class _Says:
    """A step that answers whatever it was given, and counts how often it was asked."""

    def __init__(self, name: str, answer: object) -> None:
        self.name, self.answer, self.asked = name, answer, 0

    def verify(self, ex: object) -> object:
        self.asked += 1
        return self.answer


@pytest.mark.parametrize("answer", [None, True, 0, "ok", checks.Refusal])
def test_a_step_answering_neither_pass_nor_a_refusal_refuses(answer):
    after = _Says("after", checks.PASS)
    verdict, step = Pipeline([_Says("first", checks.PASS), _Says("odd", answer), after]).run(
        None)  # type: ignore[arg-type]
    assert isinstance(verdict, checks.Refusal) and verdict.code == 500
    assert step == "odd" and after.asked == 0


def test_a_refusal_stops_the_pipeline_and_pass_goes_through():
    no = checks.refuse(403, "no")
    after = _Says("after", checks.PASS)
    assert Pipeline([_Says("a", checks.PASS), _Says("b", no), after]).run(None) == (no, "b")
    assert after.asked == 0
    assert Pipeline([_Says("a", checks.PASS), after]).run(None) == (checks.PASS, "after")


def test_expired_task_key_is_401(hop):
    old = mint_task_key(hop.ring, agent=AGENT, task_id=hop.task_id, hop=1,
                        customer_token=hop.tokens["cust"], case_token=None, wall_seconds=1,
                        now=time.time() - 3600)
    hop.task_key = old.token
    assert_refused(hop, hop.send("task"), 401, "unauthorized")
