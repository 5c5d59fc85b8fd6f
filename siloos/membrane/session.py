"""One hop's facts as the membrane holds them, and the per-request working state.

`CellSession` is what the router tells the membrane when it starts a cell: whose task and
hop this is, which agent the cell runs, the jti of the one base key minted for this hop,
the real customer id (host side only, handed to exits in `ExitContext`), the vault scope
and the already-tokenized task payload.
`HopCounters` keeps the hop's budgets and call sequence; `Exchange` carries one request
through the check pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.membrane.protocol import Request


@dataclass(frozen=True)
class CellSession:
    """The hop a membrane serves. Nothing here is sent to the cell except `task_payload`."""

    task_id: str
    hop: int
    agent: str
    agent_dir: Path | None
    customer_id: str | None
    scope: str
    task_payload: Mapping[str, Any]
    #: The jti of the base key the router minted for this hop. Any other base key of the
    #: agent (an older deployment's, with other caps or escalation targets) is refused.
    base_jti: str
    limits: Mapping[str, int] = field(default_factory=dict)
    workspace_root: Path | None = None


@dataclass
class HopCounters:
    """Budgets used so far in this hop and the call sequence exits are keyed by.

    The sequence numbers executed calls 1, 2, 3... in arrival order; a hop retried after a
    crash replays the same calls in the same order, so (task, hop, seq) names "the same call"
    and an exit keyed by it acts once.
    """

    tool_calls: int = 0
    llm_calls: int = 0
    llm_tokens: int = 0
    call_seq: int = 0

    def used(self, budget: str) -> int:
        return int(getattr(self, budget))

    def spend(self, budget: str, amount: int = 1) -> None:
        setattr(self, budget, self.used(budget) + amount)

    def next_seq(self) -> int:
        self.call_seq += 1
        return self.call_seq


@dataclass
class Exchange:
    """One request on its way through the pipeline; each step reads and fills a part."""

    request: Request
    session: CellSession
    base: Any = None
    task: Any = None
    #: Effective capabilities of this hop: base caps ∩ narrow. Shared by every request
    #: made with the same pair of keys: steps read it, never change it.
    caps: dict[str, dict[str, Any]] = field(default_factory=dict)
    tool: str | None = None
    spec: Any = None
    #: The arguments as the cell sent them (tokens, never real values).
    args: dict[str, Any] = field(default_factory=dict)
    #: token -> real value, for the tokens of this request. Host side only.
    resolved: dict[str, str] = field(default_factory=dict)
    #: The arguments with every token replaced by its real value (for constraint checks).
    real_args: dict[str, Any] = field(default_factory=dict)
    #: The constraint values granted for this tool, tokens resolved.
    grants: dict[str, Any] = field(default_factory=dict)
    #: What the exit receives: real values for `hydrate` arguments, tokens for the rest.
    exit_args: dict[str, Any] = field(default_factory=dict)
    call_seq: int | None = None
    result: Any = None
    #: Extra facts for the audit row (never real values).
    notes: dict[str, Any] = field(default_factory=dict)
    #: The request's success audit row is already written (with the call's result).
    audited: bool = False
    #: The tokenized result with its canonical JSON text (`siloos.store.encoding.canonical`).
    result_json: Any = None
    #: The result's text as recorded in the store: the reply is built from it, unencoded.
    reply_json: str | None = None
    #: What the store's freshness look for this request saw (`StatePort.changes_seen`,
    #: set by `TaskActive`); None until then.
    state_stamp: int | None = None
    #: The scope's `known_version` as of after the result was tokenized (None: not read),
    #: so the audit row's scan of the same request need not ask the vault again.
    known_version: Any = None
