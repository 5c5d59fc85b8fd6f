"""The agent loop through the real membrane over a real unix socket, with both providers.

The SDK client, the membrane's check pipeline, keys, vault, tokenizer and back office are
the real ones (built by test_membrane_support); only the model is a double: the scripted
provider, or the real `anthropic` client talking to a local Messages-API server.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from fakes.messages_api import FakeMessagesAPI, text_reply, tool_use_reply
from test_membrane_support import CAPS, make_hop, served

from siloos.sdk import SDK_DIR

sys.path.insert(0, str(SDK_DIR))

import silo

from siloos.llm.anthropic_provider import AnthropicProvider
from siloos.llm.scripted import ScriptedProvider
from siloos.router.run import tools_for

KEY = "sk-ant-host-only-5f1e2d3c4b5a"
PLAINTEXT = ("C-1001", "O-5001", "O-5002", "Odalys", "Fernwhistle",
             "odalys.fernwhistle@example.com", "202-555-0147")


@pytest.fixture
def cell(tmp_path, monkeypatch):
    """Yields a function that builds a hop with a provider, serves it and runs the loop."""
    hops = []

    def run(provider):
        caps = {**CAPS, "llm": {}}
        hop = make_hop(tmp_path / "ws", caps=caps, services={"llm": provider})
        hops.append(hop)
        # The router puts the customer token in the task input (design §8) and the tool
        # list in the payload (built here by the router's own `tools_for`).
        payload = hop.membrane.session.task_payload
        payload["input"]["customer"] = hop.tokens["cust"]
        payload["tools"] = tools_for(SimpleNamespace(registry=hop.registry),  # type: ignore[arg-type]
                                     SimpleNamespace(capabilities=caps))  # type: ignore[arg-type]
        sock = tmp_path / "m.sock"
        monkeypatch.setenv("SILO_BASE_KEY", hop.base_key)
        monkeypatch.setenv("SILO_TASK_KEY", hop.task_key)
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        client = silo.Client(path=str(sock), base_key=hop.base_key, task_key=hop.task_key,
                             timeout=30)
        monkeypatch.setattr(silo, "_client", client)
        with served(hop, sock):
            try:
                result = silo.run_agent(agent_dir=str(hop.root / "agents" / "refund-agent"))
            finally:
                client.close()
        return hop, result

    yield run
    for hop in hops:
        hop.store.close()
        hop.backoffice.close()


def test_scripted_model_drives_real_calls_and_sees_refusals(cell, tmp_path):
    script = [
        {"content": [{"type": "tool_use", "name": "orders_list",
                      "input": {"customer": {"$ref": ["task", "input", "customer"]}}}]},
        {"content": [{"type": "tool_use", "name": "refunds_issue",
                      "input": {"order": {"$ref": ["last", {"amount": 750}, "order"]},
                                "amount": 750, "reason": "too big for me"}}]},
        {"content": [{"type": "tool_use", "name": "refunds_issue",
                      "input": {"order": {"$ref": ["tool", "orders_list", {"amount": 120},
                                                   "order"]},
                                "amount": 120, "reason": "damaged"}}]},
        {"content": [{"type": "tool_use", "name": "finish",
                      "input": {"status": 200, "summary": {
                          "refund": {"$ref": ["last", "refund_id"]}}}}]},
    ]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    hop, result = cell(ScriptedProvider(path))
    assert result["status"] == 200 and result["summary"]["refund"], result
    # The real back office refunded the 120 order only; the 750 call was refused (403).
    assert [r["amount"] for r in hop.backoffice.refunds("O-5001")] == [120.0]
    assert hop.backoffice.refunds("O-5002") == []
    refused = [a for a in hop.audit() if a["op"] == "call" and not a["ok"]]
    assert [a["code"] for a in refused] == [403]
    assert hop.membrane.finish_record["status"] == 200


def test_anthropic_client_through_the_membrane(cell):
    def look_up_customer(body):
        # The task (with the customer's token) is the first user message, as JSON.
        task = json.loads(body["messages"][0]["content"].split("\n", 1)[1])
        return tool_use_reply("customers_get", {"customer": task["input"]["customer"]})

    with FakeMessagesAPI() as api:
        api.enqueue(look_up_customer, text_reply("I have what I need."))
        provider = AnthropicProvider(api_key=KEY, base_url=api.base_url, max_retries=0,
                                     default_model="claude-test")
        hop, result = cell(provider)
    # The model ended its turn without finishing: the loop reports that (400).
    assert result["status"] == 400
    assert result["summary"]["reason"] == "model stopped without finishing"
    assert len(api.requests) == 2
    for request in api.requests:
        headers = request["headers"]
        assert KEY in (headers.get("x-api-key", ""), headers.get("authorization", "")[7:])
        body = json.dumps(request["body"])
        for value in PLAINTEXT:
            assert value not in body
    second = api.requests[1]["body"]["messages"]
    (tool_result,) = second[2]["content"]
    looked_up = json.loads(tool_result["content"])
    assert looked_up["email"].startswith("email_tk_") and looked_up["name"].startswith("name_tk_")
    calls = [a for a in hop.audit() if a["op"] == "call"]
    assert [(a["tool"], a["ok"]) for a in calls] == [("customers.get", True)]
    tools = {t["name"] for t in api.requests[0]["body"]["tools"]}
    assert {"customers_get", "refunds_issue", "finish", "escalate"} <= tools
    assert "llm" not in tools
