"""The membrane's checks (design §5), each a small named step that passes or refuses.

A step's `verify(exchange)` returns `PASS` or a `Refusal(code, type, reason)`; a `Pipeline`
runs its steps in order and stops at the first refusal. An empty pipeline is refused at
construction: "no checks" must never mean "allowed". The frame itself is checked before a
pipeline runs (`siloos.membrane.protocol.parse_request`); the order here continues §5 from
the keys on. The steps that act rather than check (resolve, hydrate, execute, tokenize)
live in `siloos.membrane.actions` and follow the same shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from siloos.membrane.ports import KeyVerifierPort, StatePort, VaultPort
from siloos.membrane.protocol import DEFAULT_TYPES
from siloos.membrane.session import Exchange, HopCounters
from siloos.privacy.tokens import find_near_misses, find_tokens, is_token
from siloos.workspace import DEFAULT_LIMITS


@dataclass(frozen=True)
class Refusal:
    """Why a step refused: the protocol code, error type and a one-line reason."""

    code: int
    type: str
    reason: str


class _Pass:
    """The single "this step is satisfied" verdict."""

    def __repr__(self) -> str:
        return "PASS"


PASS = _Pass()
Verdict = _Pass | Refusal


def refuse(code: int, reason: str, error_type: str | None = None) -> Refusal:
    return Refusal(code, error_type or DEFAULT_TYPES.get(code, "forbidden"), reason)


#: What a step that returned neither `PASS` nor a `Refusal` is taken to have said.
_NO_VERDICT = Refusal(500, "internal_error", "a check gave no verdict")


class Step(Protocol):
    """One named step of the pipeline."""

    name: str

    def verify(self, ex: Exchange) -> Verdict: ...


class EmptyPipeline(ValueError):
    """A pipeline with no steps was asked for; that would allow everything."""


class Pipeline:
    """An ordered, non-empty list of steps; the first refusal wins."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = tuple(steps)
        if not self.steps:
            raise EmptyPipeline("a check pipeline needs at least one step")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    def run(self, ex: Exchange) -> tuple[Verdict, str]:
        """(verdict, name of the last step run). Only the `PASS` object passes: a step
        that answers anything else but a `Refusal` (None, True, a bug's leftover) refuses
        with 500, so a step can never allow by forgetting to say no."""
        for step in self.steps:
            verdict = step.verify(ex)
            if verdict is not PASS:
                if not isinstance(verdict, Refusal):
                    verdict = _NO_VERDICT
                return verdict, step.name
        return PASS, self.steps[-1].name


class KeysVerified:
    """Both keys present and verified as a pair by the key verifier (algorithm, kid,
    signature, time window, issuer/audience, typ, claim shape, agent, revocation).

    A successful verification is remembered for the exact pair of token strings: the same
    bytes carry the same signatures, so re-verifying them would only cost time. Expiry is
    still checked on every request from the remembered claims, and revocation and the hop's
    state by `TaskActive`, so a cached pair can never outlive its keys.
    """

    name = "keys_verified"
    _CACHE_SIZE = 8

    def __init__(self, verifier: KeyVerifierPort, *, clock: Callable[[], float] = time.time):
        self.verifier = verifier
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}

    def verify(self, ex: Exchange) -> Verdict:
        req = ex.request
        if not req.base_key:
            return refuse(401, "missing base_key")
        if not req.task_key:
            return refuse(401, "missing task_key")
        pair = (req.base_key, req.task_key)
        cached = self._cache.get(pair)
        now = self.clock()
        if cached is not None and now < cached[0].exp and now < cached[1].exp:
            ex.base, ex.task = cached
            return PASS
        try:
            base, task = self.verifier.verify_pair(req.base_key, req.task_key,
                                                   expected_agent=ex.session.agent)
        except Exception as err:  # any verifier failure refuses (fail closed)
            return _key_refusal(err)
        if len(self._cache) >= self._CACHE_SIZE:
            self._cache.clear()
        self._cache[pair] = (base, task)
        ex.base, ex.task = base, task
        return PASS


def _key_refusal(err: Exception) -> Refusal:
    code = getattr(err, "code", 401)
    reason = getattr(err, "reason", None) or "key rejected"
    if not isinstance(code, int) or code not in (401, 403, 409):
        code = 401
    return refuse(code, str(reason))


class BaseKeyPinned:
    """The base key is the one minted for this hop (its jti), not merely one of the agent's.

    Every base key the router ever minted for the agent verifies; an older one may carry
    wider caps, higher limits or other escalation targets. Only the hop's own key counts,
    so caps, limits and redirect targets all come from it. An empty pin matches nothing.

    403, like a key of another agent (`AgentsMatch`): the key itself is genuine and valid,
    it is only not this hop's to use.
    """

    name = "base_key_pinned"

    def verify(self, ex: Exchange) -> Verdict:
        expected = ex.session.base_jti
        if not expected or ex.base.jti != expected:
            return refuse(403, "not this hop's base key")
        return PASS


class AgentsMatch:
    """base key agent == task key agent == this cell's agent; the task key is for this hop."""

    name = "agents_match"

    def verify(self, ex: Exchange) -> Verdict:
        agent = ex.session.agent
        if ex.base.agent != agent:
            return refuse(403, f"base key is for agent {ex.base.agent!r}, this cell runs {agent!r}")
        if ex.task.agent != agent:
            return refuse(403, f"task key is for agent {ex.task.agent!r}, this cell runs {agent!r}")
        if ex.task.task_id != ex.session.task_id or ex.task.hop != ex.session.hop:
            return refuse(403, "task key is for another task or hop")
        return PASS


class TaskActive:
    """The task key is not revoked, the base key is not revoked, and the hop still runs.

    Asked of the store on every request, in one look (`StatePort.hop_gate`): a revocation
    or a hop's end committed anywhere counts from the next request on."""

    name = "task_active"

    def __init__(self, store: StatePort, finished: Callable[[], bool]) -> None:
        self.store = store
        self.finished = finished

    def verify(self, ex: Exchange) -> Verdict:
        if self.finished():
            return refuse(409, "this hop has finished")
        try:
            failed = self.store.hop_gate(ex.session.task_id, ex.session.hop, ex.task.jti,
                                         ex.base.jti)
        except Exception:  # cannot tell: refuse rather than guess
            return refuse(409, "task state unavailable")
        if failed is None:
            ex.state_stamp = self.store.changes_seen()
            return PASS
        return _GATE_REFUSALS.get(failed, _UNKNOWN_GATE)


#: `StatePort.hop_gate` answers → refusals (anything else it might say also refuses).
_GATE_REFUSALS = {
    "task_key_revoked": refuse(409, "task key has been revoked"),
    "base_key_revoked": refuse(401, "base key has been revoked"),
    "hop_inactive": refuse(409, "task hop is no longer active"),
}
_UNKNOWN_GATE = refuse(409, "task state unavailable")


class ToolKnown:
    """The exit exists in this workspace's registry and is reached by this op (else 404)."""

    name = "tool_known"

    def __init__(self, registry: Any, kind: str = "call", fixed: str | None = None) -> None:
        self.registry = registry
        self.kind = kind
        self.fixed = fixed

    def verify(self, ex: Exchange) -> Verdict:
        tool = self.fixed or ex.request.tool or ""
        spec = self.registry.get(tool)
        if spec is None or spec.kind != self.kind:
            return refuse(404, f"unknown tool {tool[:64]!r}")
        ex.tool, ex.spec = tool, spec
        return PASS


class CapabilityGranted:
    """The tool is in the hop's effective capabilities: base caps, ∩ narrow when present.

    The effective caps are a pure function of the two verified keys' claims, so they are
    worked out once per pair of claim objects (`KeysVerified` hands out the same objects
    for the same pair of key strings) and shared, read-only, by that pair's requests; a
    pair whose caps cannot be computed is refused every time, just as before."""

    name = "capability_granted"

    def __init__(self, effective_caps: Callable[[Any, Any], Mapping[str, Mapping[str, Any]]]):
        self.effective_caps = effective_caps
        #: (base claims, task claims, caps or the refusal) for the last pair seen.
        self._last: tuple[Any, Any, dict[str, dict[str, Any]] | Refusal] | None = None

    def _caps_for(self, base: Any, task: Any) -> dict[str, dict[str, Any]] | Refusal:
        last = self._last
        if last is not None and last[0] is base and last[1] is task:
            return last[2]
        try:
            caps: dict[str, dict[str, Any]] | Refusal = {
                name: dict(c) for name, c in self.effective_caps(base, task).items()}
        except Exception as err:  # caps that cannot be computed grant nothing
            caps = refuse(403, str(getattr(err, "reason", "capabilities cannot be determined")))
        self._last = (base, task, caps)  # holding them keeps their identities unique
        return caps

    def verify(self, ex: Exchange) -> Verdict:
        caps = self._caps_for(ex.base, ex.task)
        if isinstance(caps, Refusal):
            return caps
        ex.caps = caps
        if ex.tool not in ex.caps:
            narrowed = ex.task.narrow is not None and ex.tool in ex.base.caps
            why = "not granted for this task" if narrowed else "not in this agent's capabilities"
            return refuse(403, f"{ex.tool}: capability missing ({why})")
        return PASS


def limit_for(ex: Exchange, budget: str) -> int:
    """The tighter of the base key's limit and the session's; the default if neither has one."""
    base, own = ex.base.limits, ex.session.limits
    if budget in base:
        return min(base[budget], own[budget]) if budget in own else base[budget]
    return own[budget] if budget in own else DEFAULT_LIMITS[budget]


class WithinBudget:
    """The hop has not used up `budget` (tool_calls, llm_calls); spends one on success."""

    def __init__(self, counters: HopCounters, budget: str) -> None:
        self.counters = counters
        self.budget = budget
        self.name = f"within_{budget}"

    def verify(self, ex: Exchange) -> Verdict:
        limit = limit_for(ex, self.budget)
        if self.counters.used(self.budget) >= limit:
            return refuse(429, f"{self.budget} budget of {limit} is exhausted")
        self.counters.spend(self.budget)
        return PASS


class WithinTokenBudget:
    """The hop's LLM token use is below `llm_tokens` (spent after each reply)."""

    name = "within_llm_tokens"

    def __init__(self, counters: HopCounters) -> None:
        self.counters = counters

    def verify(self, ex: Exchange) -> Verdict:
        limit = limit_for(ex, "llm_tokens")
        if self.counters.llm_tokens >= limit:
            return refuse(429, f"llm_tokens budget of {limit} is exhausted")
        return PASS


_TYPE_OK: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


class ArgsMatchSchema:
    """Arguments match the exit's schema: no unknown, none missing, JSON types exact (400)."""

    name = "args_match_schema"

    def __init__(self, args_of: Callable[[Exchange], dict[str, Any]] | None = None) -> None:
        # Read, not copied: `verify` copies what it keeps into `ex.args`.
        self.args_of = args_of or (lambda ex: ex.request.fields.get("args") or {})
        #: exit name -> (its spec, that spec's parameter names): read once per exit.
        self._names: dict[str, tuple[Any, frozenset[str]]] = {}

    def _param_names(self, spec: Any) -> frozenset[str]:
        known = self._names.get(spec.name)
        if known is None or known[0] is not spec:
            known = self._names[spec.name] = (spec, frozenset(p.name for p in spec.params))
        return known[1]

    def verify(self, ex: Exchange) -> Verdict:
        args = self.args_of(ex)
        unknown = sorted(set(args) - self._param_names(ex.spec))
        if unknown:
            return refuse(400, f"{ex.tool}: unknown argument {unknown[0][:64]!r}")
        for p in ex.spec.params:
            if p.name not in args:
                if p.required:
                    return refuse(400, f"{ex.tool}: missing argument {p.name!r}")
                continue
            value = args[p.name]
            if value is None and not p.required:
                continue
            if not _TYPE_OK.get(p.json_type, _TYPE_OK["string"])(value):
                return refuse(400, f"{ex.tool}: argument {p.name!r} must be {p.json_type}")
        ex.args = {k: v for k, v in args.items() if v is not None}
        return PASS


class NoNearMissTokens:
    """No argument carries something token-shaped that is not a real token (403)."""

    name = "no_near_miss_tokens"

    def verify(self, ex: Exchange) -> Verdict:
        misses = find_near_misses(ex.args)
        if misses:
            return refuse(403, f"{ex.tool}: {sorted(misses)[0][:64]!r} is not a valid token")
        return PASS


class TokensInScope:
    """Every token in the arguments belongs to this task's scope; remembers its real value."""

    name = "tokens_in_scope"

    def __init__(self, vault: VaultPort) -> None:
        self.vault = vault

    def verify(self, ex: Exchange) -> Verdict:
        for token in sorted(find_tokens(ex.args)):
            try:
                ex.resolved[token] = self.vault.resolve(token, ex.session.scope)
            except Exception:  # unknown, foreign or undecryptable: all refused
                return refuse(403, f"{ex.tool}: token {token} is outside this task's scope")
        return PASS


class HydratedArgsAreTokens:
    """A customer-scoped exit hydrates only tokens: a plain string where a token belongs
    (a made-up address in `to`, a guessed order id) would act outside the task's scope."""

    name = "hydrated_args_are_tokens"

    def verify(self, ex: Exchange) -> Verdict:
        if ex.spec.scope != "customer":
            return PASS
        for arg in ex.spec.hydrate:
            value = ex.args.get(arg)
            if isinstance(value, str) and not is_token(value):
                return refuse(403, f"{ex.tool}: argument {arg!r} must be a token of this task")
        return PASS


class ConstraintsHold:
    """Every granted constraint holds on the real values; a limited argument left out of the
    call is refused (fail closed), and so is a granted constraint the exit does not know."""

    name = "constraints_hold"

    def verify(self, ex: Exchange) -> Verdict:
        granted = ex.caps.get(ex.tool or "", {})
        for key, raw in granted.items():
            constraint = ex.spec.constraints.get(key)
            if constraint is None:
                return refuse(403, f"{ex.tool}: constraint {key!r} is not understood by this exit")
            arg = constraint.arg
            if arg not in ex.args:
                return refuse(403, f"{ex.tool}: {key} limits {arg!r}, which the call leaves out",
                              "limit_exceeded")
            if not constraint.allows(ex.grants.get(key), ex.real_args.get(arg)):
                return refuse(403, _constraint_message(ex.tool or "", constraint, key, raw,
                                                       ex.args[arg]), "limit_exceeded")
        return PASS


def _constraint_message(tool: str, constraint: Any, key: str, granted: Any, sent: Any) -> str:
    # Shows what the cell sent (tokens) and, for numeric limits, the grant as written in the
    # key; never a resolved value.
    shown = sent if isinstance(sent, int | float) else repr(sent)[:80]
    if constraint.rule == "<=":
        return f"{tool}: {constraint.arg} {shown} exceeds {key} {granted}"
    if constraint.rule == ">=":
        return f"{tool}: {constraint.arg} {shown} is below {key} {granted}"
    return f"{tool}: {constraint.arg} {shown} is not allowed by {key}"
