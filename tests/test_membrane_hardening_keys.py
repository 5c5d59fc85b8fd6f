"""Review finding 2: a hop runs under the one base key minted for it, and no other.

The membrane pins the base key's jti (`CellSession.base_jti`); the router mints that key
for the hop only (wall time + 60 s) and revokes it when the hop ends, with the task key.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from test_e2e_support import make_workspace
from test_membrane_support import AGENT, CAPS, DIGEST, LIMITS, make_hop

from siloos.cell.spec import CellSpec
from siloos.keys.inspect import peek
from siloos.keys.mint import HOP_BASE_GRACE_SECONDS, MintError, mint_hop_base_key
from siloos.membrane.server import Membrane
from siloos.router.run import run_task
from siloos.router.runtime import Runtime
from siloos.store import StateStore


def rebuilt(hop: Any, **session_changes: Any) -> Membrane:
    """The hop's membrane again, its session changed as given."""
    session = dataclasses.replace(hop.membrane.session, **session_changes)
    hop.membrane.close_journal()  # one live membrane per hop
    return Membrane(session, verifier=hop.verifier, registry=hop.registry, store=hop.store,
                    tokenizer=hop.tokenizer, services=hop.services)


def send(membrane: Membrane, hop: Any, op: str, **fields: Any) -> dict[str, Any]:
    return json.loads(membrane.handle_line(hop.frame(op, 5, **fields)))


def test_the_hops_own_base_key_is_accepted(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = hop.send("task", 1)
    assert reply["ok"] is True and reply["result"]["task_id"] == hop.task_id


def test_an_equally_wide_base_key_of_the_same_agent_is_still_not_this_hops(
        tmp_path: Path) -> None:
    """Same caps, same version, same digest: only the jti differs, and that is refused."""
    hop = make_hop(tmp_path)
    twin = mint_hop_base_key(hop.ring, agent=AGENT, version="1.0.0", digest=DIGEST,
                             caps=CAPS, escalate_to=["manager-agent", "human"],
                             limits=LIMITS)
    hop.base_key = twin.token
    for op, fields in (("task", {}), ("note", {"text": "hi"}),
                       ("call", {"tool": "orders.list", "args": {"customer": hop.tokens["cust"]}}),
                       ("finish", {"status": 200})):
        reply = hop.send(op, 3, **fields)
        assert reply["ok"] is False and reply["id"] == 3, op
        assert reply["error"]["code"] == 403
        assert reply["error"]["message"] == "not this hop's base key"
    assert hop.membrane.finish_record is None
    assert hop.last_audit()["reason"] == "not this hop's base key"


def test_a_session_without_a_pinned_base_key_accepts_none(tmp_path: Path) -> None:
    """Fail closed: an empty pin matches no key, not every key."""
    hop = make_hop(tmp_path)
    reply = send(rebuilt(hop, base_jti=""), hop, "task")
    assert reply["ok"] is False and reply["error"]["code"] == 403


def test_the_pin_holds_even_after_the_pinned_pair_was_accepted(tmp_path: Path) -> None:
    """The verified-pair cache must not let a different base key ride on a cached pass."""
    hop = make_hop(tmp_path)
    assert hop.send("task", 1)["ok"] is True
    pinned = hop.base_key
    hop.base_key = mint_hop_base_key(hop.ring, agent=AGENT, version="1.0.0", digest=DIGEST,
                                     caps=CAPS, escalate_to=[], limits=LIMITS).token
    assert hop.send("task", 2)["ok"] is False
    hop.base_key = pinned
    assert hop.send("task", 3)["ok"] is True


def test_a_hop_base_key_lives_for_the_wall_time_plus_a_minute(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    minted = mint_hop_base_key(hop.ring, agent=AGENT, version="1.0.0", digest=DIGEST,
                               caps=CAPS, escalate_to=[], limits=LIMITS, now=1_000_000)
    _, claims = peek(minted.token)
    assert claims["jti"] == minted.jti and claims["exp"] == minted.exp
    assert claims["exp"] - claims["iat"] == LIMITS["wall_seconds"] + HOP_BASE_GRACE_SECONDS


@pytest.mark.parametrize("limits", [{}, {"wall_seconds": 0}, {"wall_seconds": True},
                                    {"wall_seconds": "60"}])
def test_a_hop_base_key_needs_a_wall_time(tmp_path: Path, limits: dict[str, Any]) -> None:
    hop = make_hop(tmp_path)
    with pytest.raises(MintError):
        mint_hop_base_key(hop.ring, agent=AGENT, version="1.0.0", digest=DIGEST, caps=CAPS,
                          escalate_to=[], limits=limits)


@pytest.mark.jail
def test_the_router_mints_a_short_base_key_per_hop_and_revokes_it(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    specs: list[CellSpec] = []
    rt = Runtime.open(ws)
    backend_run = rt.backend.run

    async def spy(spec: CellSpec) -> Any:
        specs.append(spec)
        return await backend_run(spec)

    patch = pytest.MonkeyPatch()
    try:
        patch.setattr(rt.backend, "run", spy)
        result = run_task(rt, ws.agents_dir / "e2e-behave", customer="C-1001",
                          extra_input={"plan": "done"})
    finally:
        patch.undo()
        rt.close()
    assert result.state == "done", (result.summary, result.stderr)
    (spec,) = specs
    _, base = peek(spec.env["SILO_BASE_KEY"])
    _, task = peek(spec.env["SILO_TASK_KEY"])
    assert base["exp"] - base["iat"] == base["limits"]["wall_seconds"] + HOP_BASE_GRACE_SECONDS
    with StateStore.open(ws.state_db) as store:
        assert store.is_revoked(base["jti"]), "the hop's base key outlived its hop"
        assert store.is_revoked(task["jti"])
        # Only the task key is the task's `key_revoked` event (the base key is not the
        # task's key, it is the hop's credential for the agent).
        events = store.show(result.task_id)["events"]
    assert [e["jti"] for e in events if e["kind"] == "key_revoked"] == [task["jti"]]
