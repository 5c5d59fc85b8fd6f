"""The default agent loop (silo.run_agent), run in-process against a fake membrane."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from siloos.sdk import SDK_DIR

sys.path.insert(0, str(SDK_DIR))

import silo
from silo import loop

from siloos.agent import load_agent
from siloos.exits import Registry
from siloos.llm.scripted import ScriptedProvider
from siloos.router.run import tools_for

ROOT = Path(__file__).resolve().parent.parent

CUSTOMER = "cust_tk_0a1b2c3d4e5f"


class FakeMembrane:
    """Stands in for the socket: scripted model turns, exits as functions, finish recorded."""

    def __init__(self, payload: dict[str, Any], replies: list[dict[str, Any]] | None = None,
                 exits: dict[str, Any] | None = None, provider: ScriptedProvider | None = None):
        self.payload = payload
        self.replies = list(replies or [])
        self.exits = exits or {}
        self.provider = provider
        self.llm_requests: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.finished: list[dict[str, Any]] = []
        self.refuse_finish: list[silo.MembraneError] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(silo, "task", lambda: json.loads(json.dumps(self.payload)))
        monkeypatch.setattr(silo, "llm", self.llm)
        monkeypatch.setattr(silo, "call", self.call)
        monkeypatch.setattr(silo, "finish", self.finish)

    def llm(self, messages, system=None, tools=None, max_tokens=None, model=None):
        # Deep copy: the loop keeps appending to its list after the call.
        self.llm_requests.append(json.loads(json.dumps(
            {"messages": messages, "system": system, "tools": tools})))
        if self.provider is not None:
            return self.provider.complete(system=system or "", messages=messages,
                                          tools=tools or [], max_tokens=max_tokens or 0,
                                          model=model or "")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def call(self, tool, /, **args):
        self.calls.append((tool, args))
        if tool not in self.exits:
            raise silo.NotFound(404, "not_found", f"unknown tool {tool}")
        return self.exits[tool](**args)

    def finish(self, status, summary=None, output=None, redirect=None, *, exit=True):
        assert exit is False, "the loop must not exit the process itself"
        if self.refuse_finish:
            raise self.refuse_finish.pop(0)
        self.finished.append({"status": status, "summary": summary, "output": output,
                              "redirect": redirect})


def turn(*blocks: dict[str, Any], stop: str | None = None) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in blocks)
    return {"id": "msg", "type": "message", "role": "assistant", "model": "m",
            "content": list(blocks), "stop_reason": stop or ("tool_use" if uses else "end_turn"),
            "usage": {"input_tokens": 1, "output_tokens": 1}}


def use(name: str, tool_id: str = "t1", **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": args}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    d = tmp_path / "agent"
    (d / "policies").mkdir(parents=True)
    (d / "procedures").mkdir()
    (d / "examples").mkdir()
    (d / "templates").mkdir()
    (d / "AGENT.md").write_text(
        "---\nname: refund-agent\ncapabilities:\n  llm: {}\n  orders.get: {}\n"
        "  refunds.issue:\n    max_amount: 500\n  email.send: {templates: [a]}\n"
        "escalate_to: [manager-agent, human]\n---\n\n# Refund agent\n\nBe kind.\n")
    (d / "policies" / "limits.md").write_text("Refund at most 500.\n")
    (d / "procedures" / "issue.md").write_text("---\nname: issue\n---\nStep one.\n")
    (d / "examples" / "ex.md").write_text("An example.\n")
    (d / "templates" / "a.md").write_text("Hello {{ name }}\n")
    return d


def router_tools(capabilities: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's `tools` exactly as the router builds them (`tools_for`)."""
    return tools_for(SimpleNamespace(registry=Registry.builtin()),  # type: ignore[arg-type]
                     SimpleNamespace(capabilities=capabilities))  # type: ignore[arg-type]


CAPS = {"llm": {}, "orders.get": {}, "refunds.issue": {"max_amount": 500},
        "email.send": {"templates": ["a"]}}


def payload(**extra: Any) -> dict[str, Any]:
    base = {"task_id": "task_1", "agent": "refund-agent",
            "input": {"customer": CUSTOMER, "message": "refund please"}, "history": [],
            "outcomes": {"200": "done", "301": "manager-agent takes over"},
            "tools": router_tools(CAPS)}
    base.update(extra)
    return base


def run(fake: FakeMembrane, monkeypatch, agent_dir: Path, base_key: str | None = None,
        **kw) -> dict[str, Any]:
    fake.install(monkeypatch)
    if base_key is None:
        monkeypatch.delenv("SILO_BASE_KEY", raising=False)
    else:
        monkeypatch.setenv("SILO_BASE_KEY", base_key)
    monkeypatch.delenv("SILO_TASK_KEY", raising=False)
    return silo.run_agent(agent_dir=str(agent_dir), **kw)


def test_tool_call_then_finish(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(text("checking"), use("orders_get", "t1", order="ord_tk_aaaaaaaaaaaa")),
        turn(use("finish", "t2", status=200, summary={"done": True})),
    ], exits={"orders.get": lambda order: {"order": order, "amount": 10}})
    result = run(fake, monkeypatch, agent_dir)
    assert fake.calls == [("orders.get", {"order": "ord_tk_aaaaaaaaaaaa"})]
    assert result == {"status": 200, "summary": {"done": True}, "output": {}, "redirect": None}
    assert fake.finished == [result]
    second = fake.llm_requests[1]["messages"]
    assert second[1] == {"role": "assistant", "content": [
        text("checking"), use("orders_get", "t1", order="ord_tk_aaaaaaaaaaaa")]}
    (result_block,) = second[2]["content"]
    assert result_block["tool_use_id"] == "t1" and "is_error" not in result_block
    assert json.loads(result_block["content"]) == {"order": "ord_tk_aaaaaaaaaaaa", "amount": 10}


def test_membrane_refusal_goes_back_to_the_model(monkeypatch, agent_dir):
    def refuse(**args):
        raise silo.LimitExceeded(403, "limit_exceeded",
                                 "refunds.issue: amount 600 exceeds max_amount 500")

    fake = FakeMembrane(payload(), replies=[
        turn(use("refunds_issue", "t1", order="ord_tk_aaaaaaaaaaaa", amount=600, reason="x")),
        turn(use("escalate", "t2", target="manager-agent", reason="above my limit",
                 details={"amount": 600})),
    ], exits={"refunds.issue": refuse})
    result = run(fake, monkeypatch, agent_dir)
    (block,) = fake.llm_requests[1]["messages"][2]["content"]
    assert block["is_error"] is True
    assert "403 limit_exceeded" in block["content"] and "exceeds max_amount 500" in block["content"]
    assert result == {"status": 301, "redirect": "manager-agent", "output": {},
                      "summary": {"amount": 600, "reason": "above my limit"}}


def test_unknown_tool_and_bad_finish_are_tool_errors(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(use("rm_rf", "t1"), use("finish", "t2", status=301, summary={})),
        turn(use("finish", "t3", status=302, redirect="manager-agent", summary="why")),
    ])
    result = run(fake, monkeypatch, agent_dir)
    blocks = fake.llm_requests[1]["messages"][2]["content"]
    assert [b["is_error"] for b in blocks] == [True, True]
    assert "unknown tool 'rm_rf'" in blocks[0]["content"]
    assert "needs a redirect" in blocks[1]["content"]
    assert fake.calls == []
    assert result["status"] == 302 and result["summary"] == {"text": "why"}


def test_refused_finish_lets_the_model_try_again(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(use("escalate", "t1", target="ceo-agent", reason="big")),
        turn(use("escalate", "t2", target="human", reason="big")),
    ])
    fake.refuse_finish.append(silo.Forbidden(403, "forbidden", "escalation target not allowed"))
    result = run(fake, monkeypatch, agent_dir)
    (block,) = fake.llm_requests[1]["messages"][2]["content"]
    assert block["is_error"] and "escalation target not allowed" in block["content"]
    assert result["status"] == 400 and result["redirect"] is None


def test_llm_budget_exhausted_finishes_500(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(use("orders_get", "t1", order="ord_tk_aaaaaaaaaaaa")),
        silo.BudgetExhausted(429, "budget_exhausted", "llm_calls: 20 of 20 used"),
    ], exits={"orders.get": lambda order: {}})
    result = run(fake, monkeypatch, agent_dir)
    assert result["status"] == 500
    assert result["summary"] == {"reason": "budget exhausted",
                                 "detail": "llm_calls: 20 of 20 used"}


def test_tool_budget_exhausted_finishes_500(monkeypatch, agent_dir):
    def spent(**args):
        raise silo.BudgetExhausted(429, "budget_exhausted", "tool_calls: 50 of 50 used")

    fake = FakeMembrane(payload(), replies=[turn(use("orders_get", "t1", order="o"))],
                        exits={"orders.get": spent})
    result = run(fake, monkeypatch, agent_dir)
    assert result["status"] == 500 and result["summary"]["reason"] == "budget exhausted"


def test_reply_that_is_not_a_message_finishes_500(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[["not", "a", "message"]])
    result = run(fake, monkeypatch, agent_dir)
    assert result["status"] == 500 and result["summary"]["reason"] == "model call failed"


def test_model_stopping_without_finish_is_400(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[turn(text("I think we are done."))])
    result = run(fake, monkeypatch, agent_dir)
    assert result["status"] == 400
    assert result["summary"] == {"reason": "model stopped without finishing",
                                 "last_message": "I think we are done."}


def test_turn_limit_is_400(monkeypatch, agent_dir):
    replies = [turn(use("orders_get", f"t{i}", order="o")) for i in range(3)]
    fake = FakeMembrane(payload(), replies=replies, exits={"orders.get": lambda order: {}})
    result = run(fake, monkeypatch, agent_dir, max_turns=3)
    assert len(fake.llm_requests) == 3
    assert result["status"] == 400 and "turn limit" in result["summary"]["reason"]


def test_max_tokens_cut_off_continues(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(text("Let me think about"), stop="max_tokens"),
        turn(use("finish", "t1", status=200, summary={})),
    ])
    assert run(fake, monkeypatch, agent_dir)["status"] == 200
    assert fake.llm_requests[1]["messages"][1]["role"] == "assistant"


@pytest.mark.parametrize("code", [401, 409, 0])
def test_fatal_membrane_errors_propagate(monkeypatch, agent_dir, code):
    fake = FakeMembrane(payload(), replies=[silo.MembraneError(code, "x", "gone")])
    with pytest.raises(silo.MembraneError):
        run(fake, monkeypatch, agent_dir)
    assert fake.finished == []


def _jwt(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{body}.c2ln"


def test_system_prompt_from_the_folder_and_tools_from_the_payload(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[turn(use("finish", "t", status=200, summary={}))])
    run(fake, monkeypatch, agent_dir,
        base_key=_jwt({"caps": {"llm": {}}, "escalate_to": ["manager-agent", "human"]}))
    request = fake.llm_requests[0]
    system = request["system"]
    assert system.startswith("You are refund-agent.")
    assert "Be kind." in system and "name: refund-agent" not in system
    for piece in ("Refund at most 500.", "Step one.", "An example.", "Hello {{ name }}",
                  "- 200: done", "- 301: manager-agent takes over"):
        assert piece in system
    names = [t["name"] for t in request["tools"]]
    # The router's order (sorted exit names), never the base key's caps (only `llm` there).
    assert names == ["email_send", "orders_get", "refunds_issue", "finish", "escalate"]
    escalate = request["tools"][-1]["input_schema"]["properties"]["target"]
    assert escalate["enum"] == ["manager-agent", "human"]
    first = request["messages"][0]["content"]
    assert json.loads(first.split("\n", 1)[1])["input"]["customer"] == CUSTOMER
    assert "outcomes" not in json.loads(first.split("\n", 1)[1])


def test_tools_from_payload_carry_schemas(monkeypatch, agent_dir):
    schema = {"type": "object", "properties": {"order": {"type": "string"}},
              "required": ["order"]}
    fake = FakeMembrane(payload(tools=[
        {"name": "llm", "description": "model", "input_schema": {}},
        {"name": "orders.get", "description": "One order.", "input_schema": schema},
        {"name": "finish", "description": "an exit trying to shadow the loop's finish"},
    ]), replies=[turn(use("finish", "t", status=200, summary={}))])
    run(fake, monkeypatch, agent_dir)
    tools = fake.llm_requests[0]["tools"]
    assert tools[0] == {"name": "orders_get", "description": "One order.", "input_schema": schema}
    assert [t["name"] for t in tools] == ["orders_get", "finish", "escalate"]
    assert tools[1]["description"].startswith("End your work")
    assert "enum" not in tools[-1]["input_schema"]["properties"]["target"]


@pytest.mark.parametrize("tools", [None, "orders.get", {"orders.get": {}}])
def test_a_payload_without_a_tool_list_finishes_500_before_any_model_turn(
        monkeypatch, agent_dir, tools):
    # The folder's AGENT.md declares capabilities and a base key carries caps: neither is
    # read as a tool list. Only the router's `tools` counts.
    task = payload()
    if tools is None:
        del task["tools"]
    else:
        task["tools"] = tools
    fake = FakeMembrane(task, replies=[turn(use("orders_get", "t1", order="o"))],
                        exits={"orders.get": lambda order: {}})
    result = run(fake, monkeypatch, agent_dir, base_key=_jwt({"caps": {"orders.get": {}}}))
    assert result["status"] == 500
    assert result["summary"] == {"reason": "no tool list in the task payload"}
    assert fake.finished == [{"status": 500,
                              "summary": {"reason": "no tool list in the task payload"},
                              "output": {}, "redirect": None}]
    assert fake.llm_requests == [] and fake.calls == []


def test_an_empty_tool_list_still_offers_finish_and_escalate():
    tools, names = loop.build_tools({"tools": []}, {})
    assert [t["name"] for t in tools] == ["finish", "escalate"] and names == {}


def test_frontmatter_and_key_helpers():
    front, body = loop.split_frontmatter("---\na: 1\ncapabilities:\n  x.y: {}\n---\nBody\n")
    assert body == "Body\n" and front == "a: 1\ncapabilities:\n  x.y: {}\n"
    assert loop.split_frontmatter("no front\n") == ("", "no front\n")
    assert loop.split_frontmatter("---\nunclosed\n") == ("", "---\nunclosed\n")
    assert loop.jwt_claims(_jwt({"escalate_to": ["human"]})) == {"escalate_to": ["human"]}
    assert loop.jwt_claims("not.a.jwt!") == {}
    assert loop.jwt_claims("garbage") == {}


# --- the shipped demo scripts drive the loop end to end -------------------------------------

class DemoBackOffice:
    """Tokenized answers like the membrane would give for customer C-1001."""

    ORDERS = [{"order": "ord_tk_0000000grind", "item": "Burr espresso grinder", "amount": 120.0,
               "status": "delivered", "created_at": "2025-03-02T10:15:00+00:00"},
              {"order": "ord_tk_00000000desk", "item": "Walnut standing desk", "amount": 750.0,
               "status": "delivered", "created_at": "2025-02-11T16:40:00+00:00"}]

    def exits(self) -> dict[str, Any]:
        def customers_get(customer):
            assert customer == CUSTOMER
            return {"customer": customer, "name": "name_tk_000000000001",
                    "email": "email_tk_00000000001", "phone": "phone_tk_0000000001",
                    "address": "addr_tk_000000000001"}

        def orders_get(order):
            (row,) = [o for o in self.ORDERS if o["order"] == order]
            return {**row, "customer": CUSTOMER}

        return {"customers.get": customers_get,
                "orders.list": lambda customer: self.ORDERS,
                "orders.get": orders_get,
                "refunds.issue": lambda order, amount, reason: {"refund_id": "rf_1",
                                                                "status": "issued"},
                "email.send": lambda to, template, variables: {"message_id": "m1",
                                                               "status": "sent"}}


DEMO = ROOT / "siloos" / "demo"
DEMO_AGENTS = ROOT / "agents"


def demo_payload(agent: str, message: str, history: list | None = None) -> dict[str, Any]:
    capabilities = load_agent(DEMO_AGENTS / agent).capabilities
    return {"task_id": "task_demo", "agent": agent, "history": history or [],
            "input": {"customer": CUSTOMER, "message": message, "channel": "email"},
            "outcomes": {}, "tools": router_tools(capabilities)}


def test_demo_refund_120(monkeypatch):
    fake = FakeMembrane(demo_payload("refund-agent", "My Burr espresso grinder arrived "
                                     "broken. Please refund the 120.00."),
                        exits=DemoBackOffice().exits(), provider=ScriptedProvider(DEMO))
    result = run(fake, monkeypatch, DEMO_AGENTS / "refund-agent")
    assert [c[0] for c in fake.calls] == ["customers.get", "orders.list", "orders.get",
                                          "refunds.issue", "email.send"]
    assert fake.calls[3][1] == {"order": "ord_tk_0000000grind", "amount": 120,
                                "reason": "damaged on arrival"}
    assert fake.calls[4][1]["to"] == "email_tk_00000000001"
    assert fake.calls[4][1]["variables"]["name"] == "name_tk_000000000001"
    assert result["status"] == 200 and result["summary"]["refund_id"] == "rf_1"


def test_demo_refund_750_hands_off_then_manager_refunds(monkeypatch):
    message = "The Walnut standing desk arrived with a cracked top. I want my 750.00 back."
    provider = ScriptedProvider(DEMO)
    first = FakeMembrane(demo_payload("refund-agent", message),
                         exits=DemoBackOffice().exits(), provider=provider)
    handoff = run(first, monkeypatch, DEMO_AGENTS / "refund-agent")
    assert handoff["status"] == 301 and handoff["redirect"] == "manager-agent"
    assert handoff["summary"]["order"] == "ord_tk_00000000desk"
    assert "refunds.issue" not in [c[0] for c in first.calls]

    history = [{"hop": 1, "agent": "refund-agent", **{k: handoff[k] for k in
                                                     ("status", "summary", "output")}}]
    second = FakeMembrane(demo_payload("manager-agent", message, history),
                          exits=DemoBackOffice().exits(), provider=provider)
    done = run(second, monkeypatch, DEMO_AGENTS / "manager-agent")
    assert ("refunds.issue", {"order": "ord_tk_00000000desk", "amount": 750,
                              "reason": "arrived damaged (approved by manager-agent)"}) \
        in second.calls
    assert done["status"] == 200 and done["summary"]["approved_by"] == "manager-agent"


def test_no_model_configured_finishes_400(monkeypatch, agent_dir):
    # The membrane answers 404 to the llm op when no provider is configured: the agent
    # hands the task to a person instead of failing it.
    fake = FakeMembrane(payload(), replies=[
        silo.NotFound(404, "not_found", "llm: no model configured")])
    result = run(fake, monkeypatch, agent_dir)
    assert result["status"] == 400
    assert result["summary"] == {"reason": "no model configured"}


def test_llm_404_after_a_turn_is_a_failure_not_a_handover(monkeypatch, agent_dir):
    fake = FakeMembrane(payload(), replies=[
        turn(use("orders_get", "t1", order="ord_tk_aaaaaaaaaaaa")),
        silo.NotFound(404, "not_found", "llm: gone"),
    ], exits={"orders.get": lambda order: {}})
    assert run(fake, monkeypatch, agent_dir)["status"] == 500
