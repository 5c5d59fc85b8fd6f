"""One hop: one agent, one cell, one task key, one membrane — from mint to revoke.

The hop owns the lifetime of everything that exists only while a cell runs: the task key
(minted here, revoked here whatever happens), the hop's base key (minted by the router for
this hop alone, pinned in the membrane, revoked here whatever happens), the membrane
socket (in a fresh private folder), and the cell itself. What comes back is a
`HopOutcome`: the agent's own finish, or the reason it never finished (timeout, killed,
exited without finishing).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.agent.manifest import Agent
from siloos.cell.spec import CELL_SOCKET, CELL_TMP, CellResult, CellSpec, uid_for_agent
from siloos.cell.staging import staging_root
from siloos.exits import ExitServices
from siloos.keys import mint_task_key
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession
from siloos.router.runtime import Runtime


@dataclass
class HopOutcome:
    """How one hop ended."""

    hop: int
    agent: str
    #: 200/301/302/400/500 from the agent's finish, or "timeout"/"killed" when it never did.
    status: int | str
    summary: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    redirect: str | None = None
    key_jti: str = ""
    stdout: str = ""
    stderr: str = ""
    cell_status: str = "exited"
    exit_code: int | None = None

    @property
    def finished(self) -> bool:
        return isinstance(self.status, int)


@dataclass(frozen=True)
class HopRequest:
    """What the router asks of one hop."""

    task_id: str
    hop: int
    agent: Agent
    base_key: str
    #: The jti of `base_key`: the membrane accepts no other base key, and it is revoked
    #: when the hop ends.
    base_jti: str
    customer_id: str | None
    customer_token: str | None
    case_token: str
    scope: str
    payload: dict[str, Any]
    narrow: dict[str, dict[str, Any]] | None = None


def run_hop(rt: Runtime, req: HopRequest) -> HopOutcome:
    """Run one hop to its end (synchronously; the membrane and cell share one loop)."""
    return asyncio.run(_run_hop(rt, req))


async def _run_hop(rt: Runtime, req: HopRequest) -> HopOutcome:
    agent = req.agent
    minted = mint_task_key(rt.ring, agent=agent.name, task_id=req.task_id, hop=req.hop,
                           customer_token=req.customer_token, case_token=req.case_token,
                           wall_seconds=agent.limits["wall_seconds"], narrow=req.narrow,
                           caps=agent.capabilities)
    rt.store.start_hop(req.task_id, req.hop, agent.name, minted.jti)
    session = CellSession(task_id=req.task_id, hop=req.hop, agent=agent.name,
                          agent_dir=agent.dir, customer_id=req.customer_id, scope=req.scope,
                          task_payload=req.payload, base_jti=req.base_jti,
                          limits=dict(agent.limits),
                          workspace_root=rt.workspace.root)
    services = ExitServices(backoffice=rt.backoffice, llm=rt.llm,
                            llm_model=agent.model or None, llm_log=rt.llm_log)
    membrane = Membrane(session, verifier=rt.verifier, registry=rt.registry, store=rt.store,
                        tokenizer=rt.tokenizer, services=services)
    # A folder per hop under the cells' traverse-only staging root: the cell uid can reach
    # the socket by path (no listing), and the backend hands the socket itself to that uid
    # (mode 0600), so no other local user can connect to it.
    sock_dir = Path(tempfile.mkdtemp(prefix="sock-", dir=staging_root()))
    os.chmod(sock_dir, 0o711)  # noqa: S103 - traverse-only, the socket is 0600
    socket_path = sock_dir / "membrane.sock"
    result: CellResult | None = None
    try:
        await membrane.start(socket_path)
        spec = CellSpec(
            agent_dir=agent.dir,
            interpreter=rt.workspace.config.cell.interpreter,
            uid=uid_for_agent(agent.name, rt.workspace.config.cell.uid_base,
                              rt.workspace.config.cell.uid_count),
            limits={k: agent.limits[k] for k in ("wall_seconds", "memory_mb", "pids", "tmp_mb")},
            sdk_dir=rt.sdk_dir,
            env={
                "SILO_BASE_KEY": req.base_key,
                "SILO_TASK_KEY": minted.token,
                "SILO_MEMBRANE": CELL_SOCKET,
                "SILO_TEMP": CELL_TMP,
                "SILO_TASK_ID": req.task_id,
            },
            membrane_socket=socket_path,
        )
        result = await rt.backend.run(spec)
    finally:
        record = membrane.finish_record
        await membrane.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
        # The hop is over whatever happened: neither of its keys must ever work again.
        _revoke(rt, minted.jti, task_id=req.task_id, hop=req.hop, reason="hop ended")
        # Not tied to the task in the store: its `key_revoked` events name task keys.
        _revoke(rt, req.base_jti, reason=f"base key of {req.task_id} hop {req.hop}: hop ended")
    return _outcome(rt, req, minted.jti, record, result)


def _revoke(rt: Runtime, jti: str, *, reason: str, task_id: str | None = None,
            hop: int | None = None) -> None:
    """Revoke a hop key without masking whatever ended the hop; a failure is said out loud
    (the key still dies at its short expiry, but an operator must know it outlived the hop).
    """
    try:
        if not rt.store.is_revoked(jti):
            rt.store.revoke(jti, task_id=task_id, hop=hop, reason=reason)
    except Exception as err:  # the hop's own outcome must still be reported
        print(f"silo: warning: could not revoke key {jti} at hop end "
              f"({type(err).__name__}); it expires on its own shortly", file=sys.stderr)


def _outcome(rt: Runtime, req: HopRequest, jti: str, record: dict[str, Any] | None,
             result: CellResult | None) -> HopOutcome:
    # Cell output is the agent's own words and may echo anything it was shown; it is only
    # ever shown tokens, but scan it anyway before it is stored or printed.
    stdout = rt.tokenizer.tokenize_text(result.stdout, req.scope, mint=False) if result else ""
    stderr = rt.tokenizer.tokenize_text(result.stderr, req.scope, mint=False) if result else ""
    cell_status = result.status if result else "killed"
    out = HopOutcome(hop=req.hop, agent=req.agent.name, status="killed", key_jti=jti,
                     stdout=stdout, stderr=stderr, cell_status=cell_status,
                     exit_code=result.exit_code if result else None)
    if record is not None:
        out.status = int(record["status"])
        out.summary = dict(record.get("summary") or {})
        out.output = dict(record.get("output") or {})
        out.redirect = record.get("redirect")
    elif cell_status == "timeout":
        out.status = "timeout"
        out.summary = {"reason": f"wall time of {req.agent.limits['wall_seconds']} s exceeded"}
    else:
        out.status = "killed"
        why = {"oom": "memory limit exceeded", "killed": "the cell was killed"}.get(
            cell_status, f"the cell exited with code {out.exit_code} without finishing")
        out.summary = {"reason": why}
    rt.store.finish_hop(req.task_id, req.hop, status=out.status, summary=out.summary,
                        output=out.output, redirect=out.redirect, stdout=stdout, stderr=stderr)
    return out
