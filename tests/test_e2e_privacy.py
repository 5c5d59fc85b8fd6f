"""Privacy end to end, with canary customers (design §7, §11; issue 4 items 4, 5, 7).

Two tasks run the probe agent (`tests/e2e_agents/e2e-probe`) in real nsjail cells:

- Alice's task runs in-process through `run_task` with the real `NsjailBackend`, while every
  request line and every reply the membrane writes into the cell is recorded (the
  membrane's `handle_line` is the whole request path), and so is the cell's environment.
- Bruno's task runs as a real `silo run --llm anthropic` subprocess with a model API key
  planted in its host environment (the provider holds it), and is handed Alice's tokens.

The probe reads everything it can, and scans it inside the cell against SHA-256 hashes of
the canaries (the plaintext never enters the cell); the tests scan, host-side, every reply
sent into the cell, the cell's environment and keys, the task as stored, state.db (after a
WAL checkpoint), .silo/logs/ and the hops' stdout/stderr for plaintext canaries in every
spelling we know. Each scanner is shown to work on data that does hold the canaries.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from test_e2e_support import (
    ALICE,
    ALICE_MESSAGE,
    BRUNO,
    BRUNO_MESSAGE,
    CONTROL,
    DECOY_KEY,
    PLANTED_API_KEY,
    leaks,
    make_workspace,
    outbox,
    run_json,
    stored_bytes,
)

from siloos.cell.spec import CellSpec
from siloos.exits import ExitServices
from siloos.keys.inspect import peek
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession
from siloos.router.run import RunResult, run_task
from siloos.router.runtime import Runtime
from siloos.store import StateStore
from siloos.workspace import Workspace

pytestmark = pytest.mark.jail

CELL_ENV = {"SILO_BASE_KEY", "SILO_TASK_KEY", "SILO_MEMBRANE", "SILO_TEMP", "SILO_TASK_ID"}
TASK_CLAIMS = {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "agent", "task_id", "hop",
               "customer_token", "case_token", "granted_by"}


MODEL_SAYS = (f"I will write to {ALICE.name} at {ALICE.email.upper()} or call (202) 555-0199 "
              f"about order {ALICE.orders[1]}.")

ANONYMOUS_MESSAGE = (f"Write to {ALICE.email} or +1 (202) 555-0199; card 4539 1488 0343 6467, "
                     f"born {ALICE.dob}.")


@dataclass
class Runs:
    """Both tasks, and what was recorded of Alice's crossing into her cell."""

    ws: Workspace
    alice: RunResult
    bruno: dict[str, Any]
    anonymous: dict[str, Any]
    requests: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    specs: list[CellSpec] = field(default_factory=list)

    def exchanges(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for line, reply in zip(self.requests, self.replies, strict=True):
            yield json.loads(line), json.loads(reply)


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    ws = make_workspace(tmp_path_factory.mktemp("e2e-privacy"))
    requests: list[bytes] = []
    replies: list[bytes] = []
    specs: list[CellSpec] = []
    original = Membrane.handle_line

    def recording(self: Membrane, line: bytes) -> bytes:
        reply = original(self, line)
        requests.append(line)
        replies.append(reply)
        return reply

    # The model "says" Alice's values in plaintext; they must reach the cell and the LLM
    # log as tokens. The script lives outside the workspace: it is test input, not state.
    script = ws.root.parent / "model-script.json"
    script.write_text(json.dumps([{
        "match": {"system": "You are e2e-probe."},
        "content": [{"type": "text", "text": MODEL_SAYS}], "stop_reason": "end_turn"}]),
        encoding="utf-8")
    patch = pytest.MonkeyPatch()
    patch.setattr(Membrane, "handle_line", recording)
    rt = Runtime.open(ws, llm_spec=f"scripted:{script}")
    backend_run = rt.backend.run

    async def run_spy(spec: CellSpec) -> Any:
        specs.append(spec)
        return await backend_run(spec)

    try:
        patch.setattr(rt.backend, "run", run_spy)
        alice = run_task(rt, ws.agents_dir / "e2e-probe", customer=ALICE.id,
                         message=ALICE_MESSAGE,
                         extra_input={"control": CONTROL, "think": True})
    finally:
        patch.undo()
        rt.close()
    assert alice.state == "done", (alice.summary, alice.stderr)
    mine = alice.output["tokens"]
    bruno_input = {
        "control": CONTROL,
        # Personal data as a key, not only as a value: keys are stored and sent too.
        "about": {BRUNO.name: BRUNO.phone},
        "foreign": [mine["email"], mine["customer"], mine["order"]],
        "host_paths": [str(ws.keys_dir), str(ws.keys_dir / "vault.key"), str(ws.state_db),
                       str(ws.root / "silo.toml"), "/root", "/work", "/agent/main.py"],
    }
    # `--llm anthropic`: the host process really holds the key (the provider reads it).
    _, bruno = run_json(ws.root, "agents/e2e-probe", "--customer", BRUNO.id,
                        "--message", BRUNO_MESSAGE, "--input", json.dumps(bruno_input),
                        "--llm", "anthropic",
                        env={"ANTHROPIC_API_KEY": PLANTED_API_KEY}, expect=0)
    # A task with no customer: only the pattern recognizers can find what it carries.
    _, anonymous = run_json(ws.root, "agents/e2e-behave", "--message", ANONYMOUS_MESSAGE,
                            expect=0)
    yield Runs(ws=ws, alice=alice, bruno=bruno, anonymous=anonymous, requests=requests,
               replies=replies, specs=specs)


# -- what crossed into the cell ---------------------------------------------------------

def test_no_reply_sent_into_the_cell_holds_a_canary(runs: Runs) -> None:
    ops = [req["op"] for req, _ in runs.exchanges()]
    assert ops[0] == "task" and ops[-1] == "finish" and "call" in ops and "note" in ops
    for raw in runs.replies:
        assert leaks(raw) == [], raw[:300]
    # Not vacuous: the replies did carry Alice's data, as tokens.
    everything = b"".join(runs.replies)
    for kind in ("cust", "name", "email", "phone", "addr", "ord", "card", "dob"):
        assert f"{kind}_tk_".encode() in everything, kind


def test_the_models_words_reach_the_cell_and_the_log_tokenized(runs: Runs) -> None:
    assert leaks(MODEL_SAYS) != []
    thoughts = [rep for req, rep in runs.exchanges() if req["op"] == "llm"]
    assert len(thoughts) == 1 and thoughts[0]["ok"], thoughts
    (block,) = thoughts[0]["result"]["content"]
    text = block["text"]
    assert leaks(text) == [], text
    tokens = runs.alice.output["tokens"]
    for kind in ("name", "email", "phone"):
        assert tokens[kind] in text, (kind, text)
    assert "ord_tk_" in text
    logs = [p for p in runs.ws.logs_dir.rglob("*") if p.is_file()]
    assert logs, "the LLM exchange was not logged"
    logged = b"".join(p.read_bytes() for p in logs)
    assert tokens["name"].encode() in logged
    assert leaks(logged) == []


def test_the_cells_environment_and_keys_carry_no_personal_data(runs: Runs) -> None:
    (spec,) = runs.specs
    assert set(spec.env) == CELL_ENV
    assert leaks(json.dumps(spec.env)) == []
    base, task = jwt_claims(spec.env["SILO_BASE_KEY"]), jwt_claims(spec.env["SILO_TASK_KEY"])
    assert set(task) == TASK_CLAIMS
    assert task["customer_token"] == runs.alice.output["tokens"]["customer"]
    assert leaks(json.dumps([base, task])) == []
    # What the cell itself saw of its environment and claims (it cannot see ours).
    probe = runs.alice.output
    assert {n for n in probe["env_names"] if n.startswith("SILO_")} == CELL_ENV
    assert probe["claims"]["SILO_TASK_KEY"] == task
    assert leaks(json.dumps(probe["claims"])) == []


def test_the_cell_found_no_canary_of_its_own(runs: Runs) -> None:
    for report in (runs.alice.output, runs.bruno["output"]):
        # Only the control value the test put in the task on purpose: the scanner works,
        # and nothing else it received hashes to a canary.
        assert report["found"] == ["control"]
        assert report["strings_scanned"] > 100
        assert report["own_files"] == [
            "/agent/AGENT.md", "/agent/canaries.json", "/agent/decoy-key.txt",
            "/agent/main.py", "/agent/templates/canary-note.md"]


# -- what SiloOS stored ------------------------------------------------------------------

def test_the_message_was_tokenized_before_it_was_stored(runs: Runs) -> None:
    tokens = runs.alice.output["tokens"]
    with StateStore.open(runs.ws.state_db) as store:
        alice = store.get_task(runs.alice.task_id)["input"]
        bruno = store.get_task(runs.bruno["task_id"])["input"]
    message = alice["message"]
    assert leaks(message) == [], message
    # Every canary in the message became a token; known values got the same token the
    # exits hand out (consistent within the customer's scope), whatever their spelling.
    assert message.count(tokens["phone"]) == 2, message
    for kind in ("name", "email", "order"):
        assert tokens[kind] in message, (kind, message)
    for prefix in ("card_tk_", "addr_tk_", "dob_tk_"):
        assert prefix in message
    assert alice["customer"] == tokens["customer"]
    assert alice["control"] == CONTROL
    assert leaks(bruno["message"]) == []
    assert runs.bruno["output"]["tokens"]["phone"] in bruno["message"]
    assert runs.bruno["output"]["tokens"]["name"] in bruno["message"]
    theirs = runs.bruno["output"]["tokens"]
    assert bruno["about"] == {theirs["name"]: theirs["phone"]}


def test_a_message_without_a_customer_is_tokenized_by_pattern(runs: Runs) -> None:
    assert leaks(ANONYMOUS_MESSAGE) != []
    with StateStore.open(runs.ws.state_db) as store:
        task = store.get_task(runs.anonymous["task_id"])
    message = task["input"]["message"]
    assert leaks(message) == [], message
    for prefix in ("email_tk_", "phone_tk_", "card_tk_", "dob_tk_"):
        assert prefix in message, (prefix, message)
    assert "customer" not in task["input"]


def test_nothing_siloos_stored_holds_a_canary(runs: Runs) -> None:
    stored = stored_bytes(runs.ws)
    assert ".silo/state.db" in stored
    for name, data in stored.items():
        assert leaks(data) == [], name
    hops = runs.alice.hops + runs.bruno["hops"]
    assert len(hops) == 2
    for hop in hops:
        assert leaks(hop["stdout"]) == [] and leaks(hop["stderr"]) == []
    assert "email_tk_" in runs.alice.hops[0]["stdout"]
    # The same scanner finds the canaries in the back office, the system of record.
    found = leaks(runs.ws.backoffice_db.read_bytes())
    for c in (ALICE, BRUNO):
        for label in ("id", "name", "email", "phone", "address", "dob", "orders"):
            assert f"{c.label}:{label}" in found


# -- hydration and scope -------------------------------------------------------------------

def test_hydration_sends_real_values_and_returns_only_an_id(runs: Runs) -> None:
    sent = [m for m in outbox(runs.ws) if m["task_id"] == runs.alice.task_id]
    assert len(sent) == 1
    (mail,) = sent
    assert mail["to"] == ALICE.email
    assert f"A note for {ALICE.name}" == mail["subject"]
    assert ALICE.name in mail["body"] and ALICE.orders[0] in mail["body"]
    emails = [(req, rep) for req, rep in runs.exchanges()
              if req.get("tool") == "email.send" and rep["ok"]]
    assert len(emails) == 1
    request, reply = emails[0]
    assert request["args"]["to"] == runs.alice.output["tokens"]["email"]
    assert set(reply["result"]) == {"message_id", "status"}
    assert reply["result"]["status"] == "sent"
    assert reply["result"]["message_id"] == mail["message_id"]


def test_tokens_outside_the_task_are_refused_and_audited(runs: Runs) -> None:
    calls = runs.bruno["output"]["calls"]
    assert calls["customers.get"]["ok"] and calls["email.send"]["ok"]
    refused = ["foreign.0", "foreign.1", "foreign.2", "near_miss", "near_miss_order",
               "forged", "raw_address"]
    for name in refused:
        assert calls[name]["ok"] is False and calls[name]["code"] == 403, (name, calls[name])
    assert "must be a token" in calls["raw_address"]["message"]
    audit = [e for e in runs.bruno["events"] if e["op"] == "call" and not e["ok"]]
    assert len(audit) == len(refused)
    assert {e["code"] for e in audit} == {403}
    assert all("scope" in e["reason"] or "token" in e["reason"] for e in audit)
    # Bruno's task sent exactly one message, to Bruno: none to Alice, none to a raw address.
    sent = [m for m in outbox(runs.ws) if m["task_id"] == runs.bruno["task_id"]]
    assert [m["to"] for m in sent] == [BRUNO.email]
    # Alice's own task refused its near misses, forgeries and raw address just the same.
    mine = runs.alice.output["calls"]
    for name in ("near_miss", "near_miss_order", "forged", "raw_address"):
        assert mine[name]["code"] == 403


# -- keys ----------------------------------------------------------------------------------

def test_the_model_key_and_the_signing_keys_are_out_of_reach(runs: Runs) -> None:
    report = runs.bruno["output"]
    # The search works (it finds the decoy in its own folder) and finds nothing else.
    assert report["api_key_hits"] == ["text:" + DECOY_KEY[:12], "/agent/decoy-key.txt"]
    assert report["paths_walked"] > 1000
    assert "api_key" not in report["found"]
    assert not [n for n in report["env_names"] if "ANTHROPIC" in n]
    assert report["suspicious_paths"] == []
    # Only the control path, which is inside the cell, exists; nothing of the host does.
    assert report["reachable_host_paths"] == ["/agent/main.py"]
    claims = report["claims"]["SILO_TASK_KEY"]
    assert set(claims) == TASK_CLAIMS
    assert claims["customer_token"] == report["tokens"]["customer"]
    assert leaks(json.dumps(report["claims"])) == []
    assert PLANTED_API_KEY not in json.dumps(runs.bruno)


def test_a_finished_hops_task_key_is_refused_with_409(runs: Runs) -> None:
    (spec,) = runs.specs
    ws = runs.ws
    rt = Runtime.open(ws)
    try:
        task = rt.store.get_task(runs.alice.task_id)
        session = CellSession(task_id=runs.alice.task_id, hop=1, agent="e2e-probe",
                              agent_dir=ws.agents_dir / "e2e-probe", customer_id=ALICE.id,
                              scope=task["customer_scope"], task_payload={},
                              base_jti=peek(spec.env["SILO_BASE_KEY"])[1]["jti"], limits={},
                              workspace_root=ws.root)
        membrane = Membrane(session, verifier=rt.verifier, registry=rt.registry,
                            store=rt.store, tokenizer=rt.tokenizer,
                            services=ExitServices(backoffice=rt.backoffice))
        line = json.dumps({"v": 1, "id": 1, "op": "call", "tool": "customers.get",
                           "base_key": spec.env["SILO_BASE_KEY"],
                           "task_key": spec.env["SILO_TASK_KEY"],
                           "args": {"customer": runs.alice.output["tokens"]["customer"]}})
        reply = json.loads(membrane.handle_line(line.encode() + b"\n"))
    finally:
        rt.close()
    assert reply["ok"] is False and reply["error"]["code"] == 409, reply
