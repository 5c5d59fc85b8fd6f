"""The in-cell SDK `silo` against a real membrane over a real unix socket (in-process, and
as a separate interpreter started the way a cell starts, minus the jail)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_membrane_support import AGENT, LIMITS, Hop, make_hop, served

from siloos.llm.base import LLMProvider
from siloos.sdk import SDK_DIR

# Imported by the name a cell uses (`/opt/silo` on sys.path), like the loop's tests do.
sys.path.insert(0, str(SDK_DIR))
import silo
from silo.client import Client

CELL_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def client_for(hop: Hop, path: Path) -> Client:
    return Client(str(path), base_key=hop.base_key, task_key=hop.task_key, timeout=20)


def test_task_call_note_over_one_connection(hop, tmp_path):
    path = tmp_path / "m.sock"
    with served(hop, path), client_for(hop, path) as c:
        task = c.task()
        assert task["task_id"] == hop.task_id and task["agent"] == AGENT
        order = c.call("orders.get", order=hop.tokens["ord"])
        assert order["order"] == hop.tokens["ord"] and order["amount"] == 120.0
        assert c.note("looked at the order") is None
        sock = c._sock
        c.call("orders.get", order=hop.tokens["ord"])
        assert c._sock is sock  # one connection reused
    ids = [r["detail"]["id"] for r in hop.audit()]
    assert ids == [1, 2, 3, 4]


def test_refusals_raise_typed_errors_with_code_and_message(tmp_path):
    hop = make_hop(tmp_path, limits={**LIMITS, "tool_calls": 3})
    path = tmp_path / "m.sock"
    try:
        with served(hop, path), client_for(hop, path) as c:
            with pytest.raises(silo.LimitExceeded) as exc:
                c.call("refunds.issue", order=hop.tokens["ord_big"], amount=600, reason="x")
            assert exc.value.code == 403 and exc.value.type == "limit_exceeded"
            assert "exceeds max_amount 500" in exc.value.message
            assert isinstance(exc.value, silo.Forbidden)
            with pytest.raises(silo.Forbidden):
                c.call("orders.get", order=hop.other_tokens["ord"])
            with pytest.raises(silo.NotFound):
                c.call("payments.wire")
            with pytest.raises(silo.BadRequest):
                c.call("orders.get", order=hop.tokens["ord"], extra=1)
            with pytest.raises(silo.BudgetExhausted) as exc:
                c.call("orders.get", order=hop.tokens["ord"])
            assert exc.value.code == 429
            with pytest.raises(silo.NotFound) as exc:
                c.llm([{"role": "user", "content": "hi"}])
            assert "llm not available" in exc.value.message
            with pytest.raises(silo.Forbidden):
                c.finish(302, redirect="nobody")
            # Still one usable connection after all of that.
            assert c.task()["task_id"] == hop.task_id
        bad = Client(str(path), base_key="x.y.z", task_key=hop.task_key)
        with served(hop, path), bad, pytest.raises(silo.Unauthorized):
            bad.task()
    finally:
        hop.store.close()
        hop.backoffice.close()


def test_tool_named_argument_does_not_clash(hop, tmp_path):
    path = tmp_path / "m.sock"
    with served(hop, path), client_for(hop, path) as c, pytest.raises(silo.BadRequest) as exc:
        c.call("orders.get", tool="x", order=hop.tokens["ord"])
    assert "unknown argument 'tool'" in exc.value.message


def test_module_functions_use_the_environment_and_finish_exits(hop, tmp_path, monkeypatch):
    path = tmp_path / "m.sock"
    monkeypatch.setenv("SILO_MEMBRANE", str(path))
    monkeypatch.setenv("SILO_BASE_KEY", hop.base_key)
    monkeypatch.setenv("SILO_TASK_KEY", hop.task_key)
    monkeypatch.setattr(silo, "_client", None)
    with served(hop, path):
        assert silo.task()["task_id"] == hop.task_id
        assert silo.call("orders.get", order=hop.tokens["ord"])["status"] == "delivered"
        silo.note("hello")
        with pytest.raises(SystemExit) as done:
            silo.finish(200, summary={"ok": True})
        assert done.value.code == 0
        assert hop.membrane.finish_record["summary"] == {"ok": True}
        with pytest.raises(silo.TaskInactive):
            silo.task()
    monkeypatch.setattr(silo, "_client", None)


def test_finish_can_leave_the_process_running(hop, tmp_path):
    path = tmp_path / "m.sock"
    with served(hop, path), client_for(hop, path) as c:
        monkey_client = c
        silo._client, saved = monkey_client, silo._client
        try:
            assert silo.finish(400, summary={"why": "needs a person"}, exit=False) is None
        finally:
            silo._client = saved
    assert hop.membrane.finish_record["status"] == 400


def test_unreachable_membrane_is_a_membrane_error(tmp_path):
    c = Client(str(tmp_path / "nothing.sock"), base_key="a", task_key="b")
    with pytest.raises(silo.MembraneUnavailable) as exc:
        c.task()
    assert isinstance(exc.value, silo.MembraneError)


class CannedModel(LLMProvider):
    """A provider double answering with one canned reply that quotes a real e-mail address."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        self.requests.append({"system": system, "messages": messages})
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "canned",
                "content": [{"type": "text",
                             "text": "Write to odalys.fernwhistle@example.com today."}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 60, "output_tokens": 50}}


def test_llm_goes_through_the_pipeline_tokenized_and_budgeted(tmp_path):
    model = CannedModel()
    caps = {"llm": {}, "orders.get": {}}
    hop = make_hop(tmp_path, caps=caps, limits={**LIMITS, "llm_tokens": 200},
                   services={"llm": model})
    path = tmp_path / "m.sock"
    try:
        with served(hop, path), client_for(hop, path) as c:
            reply = c.llm([{"role": "user", "content": f"hi {hop.tokens['name']}"}],
                          system="be brief", max_tokens=100)
            assert reply["content"][0]["text"] == f"Write to {hop.tokens['email']} today."
            assert model.requests[0]["messages"][0]["content"] == f"hi {hop.tokens['name']}"
            with pytest.raises(silo.Forbidden):  # another customer's token in a prompt
                c.llm([{"role": "user", "content": hop.other_tokens["email"]}])
            assert len(model.requests) == 1
            c.llm([{"role": "user", "content": "again"}])
            with pytest.raises(silo.BudgetExhausted) as exc:
                c.llm([{"role": "user", "content": "and again"}])
            assert "llm_tokens" in exc.value.message
            assert len(model.requests) == 2
        usage = hop.store.llm_usage(hop.task_id)
        assert usage[0]["input_tokens"] == 120 and usage[0]["output_tokens"] == 100
    finally:
        hop.store.close()
        hop.backoffice.close()


def test_sdk_imports_only_the_standard_library():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import silo, silo.client, "
            "silo.errors, silo.loop, silo.toolnames; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] not in "
            "(*sys.stdlib_module_names, 'silo', '__main__')); print(bad)")
    out = subprocess.run([CELL_PYTHON, "-I", "-S", "-B", "-c", code, str(SDK_DIR)],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out


def test_the_sdk_ships_only_the_agent_runtime():
    # Everything here is copied into every cell: benchmark code lives in siloos.bench.
    shipped = sorted(p.relative_to(SDK_DIR).as_posix() for p in SDK_DIR.rglob("*.py"))
    assert shipped == ["__init__.py", "bootstrap.py", "silo/__init__.py", "silo/client.py",
                       "silo/errors.py", "silo/loop.py", "silo/toolnames.py"]


def test_an_agent_process_talks_to_the_membrane_like_a_cell(hop, tmp_path):
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "main.py").write_text(
        "import silo\n"
        "task = silo.task()\n"
        "orders = silo.call('orders.list', customer=task['input']['customer'])\n"
        "silo.note('found %d orders' % len(orders))\n"
        "try:\n"
        "    silo.call('refunds.issue', order=orders[1]['order'], amount=600, reason='x')\n"
        "except silo.LimitExceeded as err:\n"
        "    refused = err.message\n"
        "silo.finish(200, summary={'orders': len(orders), 'refused': refused})\n"
        "raise SystemExit('finish did not exit')\n")
    path = tmp_path / "m.sock"
    env = {"SILO_MEMBRANE": str(path), "SILO_BASE_KEY": hop.base_key,
           "SILO_TASK_KEY": hop.task_key, "SILO_TASK_ID": hop.task_id,
           "SILO_TEMP": str(tmp_path)}
    with served(hop, path):
        proc = subprocess.run([CELL_PYTHON, "-I", "-B", str(SDK_DIR / "bootstrap.py"),
                               str(agent_dir)], env=env, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 0, proc.stderr
    record = hop.membrane.finish_record
    assert record["status"] == 200 and record["summary"]["orders"] >= 2
    assert "exceeds max_amount 500" in record["summary"]["refused"]
    assert "C-1001" not in json.dumps(hop.audit()) + proc.stdout + proc.stderr
    assert os.environ.get("SILO_BASE_KEY") is None
