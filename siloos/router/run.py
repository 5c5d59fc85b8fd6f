"""Run one task end to end: intake, hops, hand-offs and consults, until done or stuck.

This is the deterministic kernel behind `silo run` (design §8, §10): no AI in it. Status
semantics: 200 → done; 301 → hand off to the target (this agent's part ends); 302 → run
the target, then come back to the same agent with its result in `history`; 400 → the human
queue; 500 → abort. Every followed 301/302 counts as a redirect; one more than
`max_redirects` becomes a 400. A cell that never finishes (timeout, killed) fails the task.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.agent.loader import load_agent
from siloos.agent.manifest import Agent
from siloos.agent.pack import agent_digest
from siloos.agent.unpack import unpack
from siloos.errors import SiloError, UsageError
from siloos.keys import mint_hop_base_key
from siloos.router.hop import HopOutcome, HopRequest, run_hop
from siloos.router.intake import Intake, take_in
from siloos.router.runtime import Runtime

MAX_REDIRECTS = 3
HUMAN = "human"

#: Task state and `silo run` exit code for each way a task can stop.
EXIT_CODES = {"done": 0, "waiting_human": 3, "failed": 4, "aborted": 4}


@dataclass
class RunResult:
    """What `silo run --json` prints (design §10), plus the exit code."""

    task_id: str
    agent: str
    state: str
    status: int | str
    summary: dict[str, Any]
    output: dict[str, Any]
    redirect: str | None
    hops: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.state, 4)

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "agent": self.agent, "state": self.state,
                "status": self.status, "summary": self.summary, "output": self.output,
                "redirect": self.redirect, "hops": self.hops, "stdout": self.stdout,
                "stderr": self.stderr, "events": self.events}


def resolve_agent(rt: Runtime, ref: Path) -> tuple[Agent, str]:
    """Load an agent folder or a `.silo` pack; returns the agent and its pack digest."""
    if ref.is_file() and ref.suffix == ".silo":
        digest = _file_sha256(ref)
        dest = rt.workspace.packs_dir / digest
        agent_dir = _unpacked(ref, dest)
        return _load(rt, agent_dir), digest
    if not ref.is_dir():
        raise UsageError(f"{ref}: not an agent folder or a .silo pack")
    return _load(rt, ref), agent_digest(ref)


def _load(rt: Runtime, agent_dir: Path) -> Agent:
    """Load an agent; limits it leaves out come from the workspace's `[limits]`."""
    return load_agent(agent_dir, rt.registry, default_limits=rt.workspace.config.limits)


def _file_sha256(path: Path) -> str:
    """sha256 of a file read in chunks (a pack may be large; never hold it whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unpacked(pack: Path, dest: Path) -> Path:
    """The pack unpacked under `.silo/packs/<digest>/` (once per digest)."""
    if dest.is_dir():
        found = [p for p in dest.iterdir() if p.is_dir()]
        if len(found) == 1:
            return found[0]
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return unpack(pack, dest)
    except BaseException:
        # A refused pack leaves nothing behind (unpack already removed what it wrote).
        shutil.rmtree(dest, ignore_errors=True)
        raise


def outcomes_for(agent: Agent) -> dict[str, str]:
    """What each status would do next, for an agent run without a workflow."""
    targets = [t for t in agent.escalate_to if t != HUMAN]
    return {
        "200": "done: the task is complete",
        "301": ("hand the task off to one of: " + ", ".join(agent.escalate_to))
        if agent.escalate_to else "not allowed: no escalation targets",
        "302": ("consult one of: " + ", ".join(targets) + ", then continue with its answer")
        if targets else "not allowed: no agent to consult",
        "400": "send the task to the human queue",
        "500": "abort the task and record why",
    }


def tools_for(rt: Runtime, agent: Agent) -> list[dict[str, Any]]:
    """The agent's call exits as tool descriptions (the in-cell agent loop's schema)."""
    tools = []
    for name in sorted(agent.capabilities):
        spec = rt.registry.get(name)
        if spec is None or spec.kind != "call":
            continue
        tools.append({"name": name, "description": spec.description,
                      "input_schema": spec.input_schema()})
    return tools


def run_task(rt: Runtime, agent_ref: Path, *, customer: str | None = None,
             message: str | None = None, extra_input: dict[str, Any] | None = None,
             channel: str = "cli") -> RunResult:
    """Create a task for the agent at `agent_ref` and drive it to its end."""
    first, digest = resolve_agent(rt, agent_ref)
    intake = take_in(rt, customer=customer, message=message, extra_input=extra_input)
    task_id = rt.store.create_task(
        agent=first.name, channel=channel, customer_scope=intake.scope,
        customer_token=intake.customer_token, case_token=intake.case_token,
        input=intake.input, state="running")
    final: HopOutcome | None = None
    try:
        state, reason, final = _drive(rt, task_id, intake, first, digest)
    except BaseException as err:
        # Whatever stopped the router, the task must not stay "running" forever.
        rt.store.set_state(task_id, "failed", f"router error: {err}")
        raise
    rt.store.set_state(task_id, state, reason)
    shown = rt.store.show(task_id)
    return RunResult(
        task_id=task_id, agent=final.agent if final else first.name, state=state,
        status=final.status if final else "killed",
        summary=final.summary if final else {}, output=final.output if final else {},
        redirect=final.redirect if final else None, hops=shown["hops"],
        stdout=final.stdout if final else "", stderr=final.stderr if final else "",
        events=rt.store.audit_events(task_id))


def _drive(rt: Runtime, task_id: str, intake: Intake, first: Agent,
           digest: str) -> tuple[str, str | None, HopOutcome | None]:
    """The hop loop; returns (state, reason, last hop)."""
    digests = {first.name: digest}
    agents = {first.name: first}
    history: list[dict[str, Any]] = []
    stack: list[str] = []          # agents waiting for a 302 consult to come back
    current = first
    redirects = 0
    hop = 0
    final: HopOutcome | None = None
    state: str = "failed"
    reason: str | None = "no hop ran"
    while True:
        hop += 1
        payload = {"task_id": task_id, "agent": current.name, "input": intake.input,
                   "history": list(history), "outcomes": outcomes_for(current),
                   "tools": tools_for(rt, current)}
        # A base key per hop, living only as long as the hop can: the hop's membrane accepts
        # no other base key, and the hop revokes it when it ends.
        base_key = mint_hop_base_key(rt.ring, agent=current.name, version=current.version,
                                     digest=digests[current.name], caps=current.capabilities,
                                     escalate_to=current.escalate_to, limits=current.limits)
        final = run_hop(rt, HopRequest(
            task_id=task_id, hop=hop, agent=current, base_key=base_key.token,
            base_jti=base_key.jti,
            customer_id=intake.customer_id, customer_token=intake.customer_token,
            case_token=intake.case_token, scope=intake.scope, payload=payload))
        history.append({"hop": hop, "agent": current.name, "status": final.status,
                        "summary": final.summary, "output": final.output})
        status = final.status
        if status in (301, 302):
            redirects += 1
            target = final.redirect or ""
            if redirects > MAX_REDIRECTS:
                state, reason = "waiting_human", f"more than {MAX_REDIRECTS} redirects"
                break
            if target == HUMAN:
                state, reason = "waiting_human", f"{current.name} escalated to a human"
                break
            try:
                nxt = agents.get(target) or _load_target(rt, current, target)
            except SiloError as err:
                # The hop ran and asked for an agent that cannot run (missing, or an
                # invalid manifest): the task fails (exit 4), it is not a usage error.
                state, reason = "failed", f"hand-off to {target!r} failed: {err}"
                break
            rt.store.add_event(task_id, "redirect", {"from": current.name, "to": target,
                                                     "status": status}, hop=hop)
            if status == 302:
                stack.append(current.name)
            agents[nxt.name] = nxt
            digests.setdefault(nxt.name, agent_digest(nxt.dir))
            current = nxt
            continue
        if status == 200 and stack:
            # The consult is answered: back to the agent that asked, with the answer in history.
            current = agents[stack.pop()]
            continue
        if status == 200:
            state, reason = "done", None
        elif status == 400:
            state, reason = "waiting_human", _reason(final, "the agent asked for a human")
        elif status == 500:
            state, reason = "aborted", _reason(final, "the agent aborted the task")
        else:
            state, reason = "failed", _reason(final, f"the cell did not finish ({status})")
        break
    return state, reason, final


def _reason(outcome: HopOutcome, default: str) -> str:
    why = outcome.summary.get("reason") if isinstance(outcome.summary, dict) else None
    return str(why) if why else default


def _load_target(rt: Runtime, current: Agent, target: str) -> Agent:
    for folder in (current.dir.parent / target, rt.workspace.agents_dir / target):
        if (folder / "AGENT.md").is_file():
            return _load(rt, folder)
    raise UsageError(f"escalation target {target!r} is not an agent of this workspace")
