"""Hand-offs and consults through the router, in real cells (design §6, §8; issue 3 item 6).

`e2e-relay` and `e2e-helper` (tests/e2e_agents) report in their `output` what each hop was
given: the task payload (input, history) and the task key's claims as the cell decodes
them. A 301 must carry the same customer scope to the next agent and pass on only the
finishing hop's own words; a 302 must come back to the asking agent with the consult's
answer in history; a redirect loop must stop at the cap and wait for a human.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_e2e_support import make_workspace, run_json

from siloos.store import StateStore
from siloos.workspace import Workspace

pytestmark = pytest.mark.jail

CUSTOMER = "C-1002"
HISTORY_KEYS = {"hop", "agent", "status", "summary", "output"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("e2e-handoff"))


def relay(ws: Workspace, plan: str, expect: int) -> dict[str, Any]:
    _, data = run_json(ws.root, "agents/e2e-relay", "--customer", CUSTOMER,
                       "--input", json.dumps({"plan": plan}), expect=expect)
    return data


def seen(hop: dict[str, Any]) -> dict[str, Any]:
    return hop["output"]["seen"]


def revoked_jtis(ws: Workspace, task_id: str) -> list[str]:
    with StateStore.open(ws.state_db) as store:
        return [e["jti"] for e in store.show(task_id)["events"] if e["kind"] == "key_revoked"]


def test_a_hand_off_keeps_the_customer_and_passes_only_the_finish(ws: Workspace) -> None:
    data = relay(ws, "handoff", 0)
    assert data["state"] == "done" and data["agent"] == "e2e-helper"
    first, second = data["hops"]
    assert (first["agent"], first["status"]) == ("e2e-relay", 301)
    assert (second["agent"], second["status"]) == ("e2e-helper", 200)
    before, after = seen(first), seen(second)
    # The same customer and case: in the payload and in the new task key's claims.
    assert after["input"]["customer"] == before["input"]["customer"]
    assert after["input"]["customer"].startswith("cust_tk_")
    for claim in ("customer_token", "case_token", "task_id"):
        assert after["claims"][claim] == before["claims"][claim]
    assert (before["claims"]["hop"], after["claims"]["hop"]) == (1, 2)
    assert after["claims"]["agent"] == "e2e-helper"
    assert after["claims"]["jti"] != before["claims"]["jti"]
    assert revoked_jtis(ws, data["task_id"]) == [first["key_jti"], second["key_jti"]]
    # History: the first hop's finish, in exactly these fields, and nothing else of it —
    # not its stdout, not the customer record it fetched.
    (entry,) = after["history"]
    assert set(entry) == HISTORY_KEYS
    assert entry["hop"] == 1 and entry["agent"] == "e2e-relay" and entry["status"] == 301
    assert entry["summary"] == first["summary"] == {"asked": "is this refund eligible?"}
    assert entry["output"] == first["output"]
    assert "TRANSCRIPT-MARKER" in first["stdout"]
    text = json.dumps(after["history"])
    assert "TRANSCRIPT-MARKER" not in text
    assert "name_tk_" not in text and "email_tk_" not in text
    assert [e["ok"] for e in data["events"] if e["op"] == "call"] == [True, True]


def test_a_consult_returns_to_the_asking_agent_with_the_answer(ws: Workspace) -> None:
    data = relay(ws, "consult", 0)
    assert data["state"] == "done" and data["agent"] == "e2e-relay"
    assert [(h["agent"], h["status"]) for h in data["hops"]] == [
        ("e2e-relay", 302), ("e2e-helper", 200), ("e2e-relay", 200)]
    asked, consulted, back = data["hops"]
    assert [h["hop"] for h in seen(back)["history"]] == [1, 2]
    answer = seen(back)["history"][1]
    assert set(answer) == HISTORY_KEYS
    assert answer["agent"] == "e2e-helper" and answer["status"] == 200
    assert answer["summary"] == {"answer": "eligible: delivered 3 days ago"}
    assert seen(consulted)["history"][0]["status"] == 302
    assert data["summary"] == {"done_after": 2}
    assert seen(back)["claims"]["customer_token"] == seen(asked)["claims"]["customer_token"]
    assert seen(back)["claims"]["hop"] == 3
    assert len(set(revoked_jtis(ws, data["task_id"]))) == 3


def test_a_redirect_loop_stops_at_the_cap_and_waits_for_a_human(ws: Workspace) -> None:
    data = relay(ws, "loop", 3)
    assert data["state"] == "waiting_human"
    assert [h["agent"] for h in data["hops"]] == ["e2e-relay", "e2e-helper"] * 2
    assert all(h["status"] == 301 for h in data["hops"])
    with StateStore.open(ws.state_db) as store:
        shown = store.show(data["task_id"])
    assert shown["state"] == "waiting_human"
    assert "redirects" in (shown["reason"] or "")
    assert len(revoked_jtis(ws, data["task_id"])) == 4


def test_a_hand_off_to_an_agent_that_cannot_run_fails_the_task(ws: Workspace) -> None:
    _, data = run_json(ws.root, "agents/e2e-orphan", "--customer", CUSTOMER, expect=4)
    assert data["state"] == "failed"
    assert data["status"] == 301 and data["redirect"] == "e2e-phantom"
    with StateStore.open(ws.state_db) as store:
        shown = store.show(data["task_id"])
    assert shown["state"] == "failed"
    assert "e2e-phantom" in (shown["reason"] or "")
    assert not [e for e in shown["events"] if e["kind"] == "redirect"]
