"""The ordered steps each op goes through (design §5), assembled in one readable place.

Every op starts with the same four: keys verified, the base key is this hop's own, agents
match, task still active. A
`call` then walks the whole of §5: tool known → capability → budget → argument schema →
token checks → resolve → constraints → hydrate → execute → tokenize → record (the result
and the call's audit row in one commit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from siloos.exits import ExitServices
from siloos.membrane import actions, checks, ops
from siloos.membrane.memo import KnownVersions, RememberedResolver
from siloos.membrane.ports import JournalPort, KeyVerifierPort, StatePort, TokenizerPort
from siloos.membrane.session import Exchange, HopCounters


@dataclass(frozen=True)
class Wiring:
    """Everything the steps are built from."""

    verifier: KeyVerifierPort
    registry: Any
    store: StatePort
    #: The hop's audit rows and exit results (durable per request, folded in batches).
    journal: JournalPort
    tokenizer: TokenizerPort
    #: What exits may use, the membrane's attempt ledger included.
    services: ExitServices
    counters: HopCounters
    effective_caps: Callable[[Any, Any], Mapping[str, Mapping[str, Any]]]
    is_finished: Callable[[], bool]
    on_finish: Callable[[Mapping[str, Any]], None]
    #: The audit row of a call that succeeds, written in the same transaction as its
    #: recorded result (None: the membrane audits it afterwards, in a second commit).
    audit_row: Callable[[Exchange], Any] | None = None


def build_pipelines(w: Wiring) -> dict[str, checks.Pipeline]:
    """op name → its pipeline."""
    vault = RememberedResolver(w.tokenizer.vault)
    versions = KnownVersions(w.tokenizer.vault)
    gate = [checks.KeysVerified(w.verifier), checks.BaseKeyPinned(), checks.AgentsMatch(),
            checks.TaskActive(w.store, w.is_finished)]
    token_checks = [checks.NoNearMissTokens(), checks.TokensInScope(vault),
                    checks.HydratedArgsAreTokens(), actions.ResolveTokens(vault),
                    checks.ConstraintsHold(), actions.Hydrate()]
    return {
        "task": checks.Pipeline([*gate, ops.AnswerTask()]),
        "note": checks.Pipeline([*gate, ops.RecordNote(w.tokenizer, w.store)]),
        "finish": checks.Pipeline([*gate, ops.FinishShape(), ops.RedirectAllowed(),
                                   ops.EndHop(w.tokenizer, w.store, w.on_finish)]),
        "call": checks.Pipeline([
            *gate,
            checks.ToolKnown(w.registry, kind="call"),
            checks.CapabilityGranted(w.effective_caps),
            checks.WithinBudget(w.counters, "tool_calls"),
            checks.ArgsMatchSchema(),
            *token_checks,
            actions.ReplayRecorded(w.counters, w.journal),
            actions.Execute(w.services, w.tokenizer),
            actions.TokenizeResult(w.tokenizer, remember=True, versions=versions),
            actions.RecordResult(w.journal, w.audit_row),
        ]),
        "llm": checks.Pipeline([
            *gate,
            ops.LlmAvailable(w.services),
            checks.ToolKnown(w.registry, kind="op", fixed="llm"),
            checks.CapabilityGranted(w.effective_caps),
            checks.WithinBudget(w.counters, "llm_calls"),
            checks.WithinTokenBudget(w.counters),
            checks.ArgsMatchSchema(actions.llm_args_with_model(w.services)),
            *token_checks,
            ops.CapMaxTokens(w.counters),
            actions.Execute(w.services, w.tokenizer),
            actions.CheckLlmReply(),
            actions.CountLlmUsage(w.counters, w.store),
            actions.TokenizeResult(w.tokenizer, by_schema=False, mint=False),
            actions.LogLlmExchange(w.services, w.tokenizer),
        ]),
    }
