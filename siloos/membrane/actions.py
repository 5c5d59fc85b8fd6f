"""The steps of the pipeline that act: resolve, hydrate, execute, tokenize (design §5).

They share the shape of `siloos.membrane.checks` (a name and `verify()` returning PASS or a
Refusal) so that one ordered list describes the whole path of a call. Real values exist
only between `ResolveTokens` and `TokenizeResult`, host side; `TokenizeResult` also puts
back the token for any real value of this request that an exit echoed, so resolved values
never travel back into the cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from siloos.exits import ExitContext, ExitRefused, ExitServices, NotInScope, idempotency_key
from siloos.membrane.checks import PASS, Verdict, refuse
from siloos.membrane.memo import KnownVersions, TokenizedResults
from siloos.membrane.ports import JournalPort, StatePort, TokenizerPort, VaultPort
from siloos.membrane.session import Exchange, HopCounters
from siloos.privacy.tokens import is_token, token_pattern
from siloos.store.encoding import CanonicalJson, canonical


class _NoValue:
    """Stands in for a granted token that does not resolve in this scope: equals nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def substitute(value: Any, mapping: Mapping[str, str]) -> Any:
    """`value` with every token found in `mapping` replaced by its real value."""
    if isinstance(value, str):
        if value in mapping:
            return mapping[value]
        if "_tk_" not in value:
            return value
        return token_pattern().sub(lambda m: mapping.get(m.group(0), m.group(0)), value)
    if isinstance(value, dict):
        return {substitute(k, mapping): substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    return value


class ResolveTokens:
    """Resolve the request's tokens (already scope-checked) and the granted constraint values
    that name tokens (`narrow` lists such as `orders: [ord_tk_…]`)."""

    name = "resolve_tokens"

    def __init__(self, vault: VaultPort) -> None:
        self.vault = vault

    def _grant(self, value: Any, scope: str) -> Any:
        if isinstance(value, list):
            return [self._grant(v, scope) for v in value]
        if is_token(value):
            try:
                return self.vault.resolve(value, scope)
            except Exception:  # a grant outside the scope allows nothing
                return _NoValue()
        return value

    def verify(self, ex: Exchange) -> Verdict:
        ex.real_args = substitute(ex.args, ex.resolved)
        granted = ex.caps.get(ex.tool or "", {})
        ex.grants = {key: self._grant(value, ex.session.scope) for key, value in granted.items()}
        return PASS


class Hydrate:
    """The exit gets real values only for the arguments it declares in `hydrate`."""

    name = "hydrate"

    def verify(self, ex: Exchange) -> Verdict:
        hydrate = set(ex.spec.hydrate)
        ex.exit_args = {k: (ex.real_args[k] if k in hydrate else v) for k, v in ex.args.items()}
        return PASS


def _call_key(ex: Exchange) -> str:
    """The call's (task, hop, call sequence) key: the same one its exit acts under."""
    return idempotency_key(ex.session.task_id, ex.session.hop, ex.call_seq or 0)


class ReplayRecorded:
    """Number the call in the hop's sequence; if (task, hop, seq) already ran (a hop retried
    after a crash), answer with the recorded result instead of acting twice. A retry that
    sends another tool at the same position is refused: replaying it could act twice."""

    name = "replay_recorded"

    def __init__(self, counters: HopCounters, journal: JournalPort) -> None:
        self.counters = counters
        self.journal = journal

    def verify(self, ex: Exchange) -> Verdict:
        ex.call_seq = self.counters.next_seq()
        try:
            stored = self.journal.lookup_exit_result(_call_key(ex))
        except Exception:  # unknown whether it ran: do not run it again
            return refuse(409, f"{ex.tool}: call {ex.call_seq} state unavailable")
        if stored is None:
            return PASS
        if stored.tool != ex.tool:
            return refuse(409, f"{ex.tool}: call {ex.call_seq} of this hop was already "
                               f"made with {stored.tool}")
        ex.result = stored.result
        ex.reply_json = stored.result_json
        ex.notes["replayed"] = True
        return PASS


class RecordResult:
    """Record the tokenized result under (task, hop, seq); the first record wins.

    With `audit_row`, the call's success audit row goes into the same journal line as the
    result: one durable write says both "this call happened" and "it was audited", before
    the reply is sent. Should that combined write fail (say the plaintext guard refuses the
    audit detail), the result is recorded on its own and the membrane audits the request
    afterwards the usual way, with its own fallback; the exit is never run again here.
    """

    name = "record_result"

    def __init__(self, journal: JournalPort,
                 audit_row: Callable[[Exchange], Any] | None = None) -> None:
        self.journal = journal
        self.audit_row = audit_row

    def verify(self, ex: Exchange) -> Verdict:
        if ex.notes.get("replayed"):
            return PASS
        row = None
        if self.audit_row is not None:
            try:
                row = self.audit_row(ex)
            except Exception:  # no row: the membrane audits after the pipeline
                row = None
        stored = None
        if row is not None:
            try:
                stored = self._record(ex, row)
                ex.audited = True
            except Exception:  # retried below without the audit row
                stored = None
        if stored is None:
            try:
                stored = self._record(ex, None)
            except Exception as err:  # the exit acted; say so, keep why in audit
                ex.notes["exit_error"] = f"result not recorded: {type(err).__name__}"
                return refuse(500, f"{ex.tool}: exit failed")
        ex.result = stored.result
        # The reply is built from the text that was recorded (first record wins).
        ex.reply_json = getattr(stored, "result_json", None)
        return PASS

    def _record(self, ex: Exchange, row: Any) -> Any:
        key = _call_key(ex)
        # Encoded once by TokenizeResult: the store keeps that text (guard still applied).
        result = ex.result_json if ex.result_json is not None else ex.result
        if row is None:
            return self.journal.record_exit_result(
                key, task_id=ex.session.task_id, hop=ex.session.hop, seq=ex.call_seq or 0,
                tool=ex.tool or "", result=result)
        return self.journal.record_exit_result(
            key, task_id=ex.session.task_id, hop=ex.session.hop, seq=ex.call_seq or 0,
            tool=ex.tool or "", result=result, audit=row)


class Execute:
    """Run the exit. ExitRefused → 403 with its (tokenized) message; NotInScope → 403 "not
    in this task's scope"; any other failure → 500 "exit failed", with the detail kept for
    the audit only."""

    name = "execute"

    def __init__(self, services: ExitServices, tokenizer: TokenizerPort) -> None:
        # The membrane's services, its own attempt ledger included (one per hop).
        self.services = services
        self.tokenizer = tokenizer

    def verify(self, ex: Exchange) -> Verdict:
        if ex.notes.get("replayed"):
            return PASS
        session = ex.session
        ctx = ExitContext(task_id=session.task_id, hop=session.hop, call_seq=ex.call_seq or 0,
                          customer_id=session.customer_id, grants=dict(ex.grants),
                          agent_dir=session.agent_dir, workspace_root=session.workspace_root,
                          services=self.services,
                          arg_tokens={k: v for k, v in ex.args.items()
                                      if isinstance(v, str) and is_token(v)})
        try:
            ex.result = ex.spec.func(ctx, **ex.exit_args)
        except ExitRefused as err:
            return refuse(403, f"{ex.tool}: {self._safe(str(err), ex)}")
        except NotInScope:
            # "No such row" reads the same as "not yours": a cell cannot learn whether
            # someone else's order exists, so the exit's message is never shown.
            return refuse(403, f"{ex.tool}: not in this task's scope")
        except Exception as err:  # an exit's bug must not reach the cell
            ex.notes["exit_error"] = f"{type(err).__name__}: {self._safe(str(err), ex)}"[:500]
            return refuse(500, f"{ex.tool}: exit failed")
        return PASS

    def _safe(self, text: str, ex: Exchange) -> str:
        """A message with this request's real values and any detected PII tokenized."""
        reverse = {real: token for token, real in ex.resolved.items()}
        for real, token in sorted(reverse.items(), key=lambda kv: -len(kv[0])):
            if real:
                text = text.replace(real, token)
        try:
            return self.tokenizer.tokenize_text(text, ex.session.scope, mint=False)
        except Exception:  # if it cannot be cleaned it is not shown
            return "refused"


class TokenizeResult:
    """Tokenize the exit's result: its declared PII fields by schema, every other string by
    the free-text scan; then swap back any real value of this request the exit echoed.

    The tokenized result is encoded once, canonically (`ex.result_json`): that is the
    check that it can be sent at all, and the text that is recorded and replied. With
    `remember`, small results are kept tokenized, with that text, for as long as the
    scope's known values stay the same (`TokenizedResults`); the masking is still done for
    every request, and a result it changes is encoded again.
    """

    name = "tokenize_result"

    def __init__(self, tokenizer: TokenizerPort, *, by_schema: bool = True,
                 mint: bool = True, remember: bool = False,
                 versions: KnownVersions | None = None) -> None:
        self.tokenizer = tokenizer
        self.by_schema = by_schema
        # Exit results come from the system of record and may mint; a model's reply is
        # produced text, shown as tokens but never minted into hydratable vault rows.
        self.mint = mint
        self.memo = TokenizedResults() if remember else None
        self.versions = versions if versions is not None else KnownVersions(tokenizer.vault)

    def verify(self, ex: Exchange) -> Verdict:
        if ex.notes.get("replayed"):
            return PASS
        try:
            tokenized = self._tokenized(ex)
            result = _mask_known(tokenized.value, ex.resolved)
            # Serializable or refused: checked once, on the tokenized value that is sent.
            # Unmasked, it is the value whose text was made with it (never changed since).
            ex.result_json = tokenized if result is tokenized.value else canonical(result)
        except Exception as err:  # an untokenizable result is never sent
            ex.notes["exit_error"] = f"result not tokenizable: {type(err).__name__}"
            return refuse(500, f"{ex.tool}: exit failed")
        ex.result = result
        return PASS

    def _tokenized(self, ex: Exchange) -> CanonicalJson:
        """The tokenized result with its canonical text (remembered with it, when kept)."""
        scope = ex.session.scope
        key = self.memo.key(ex.result) if self.memo is not None else None
        if key is None:
            return canonical(self._tokenize(ex.result, ex, scope))
        versions = self.versions
        stamp = self._stamp(ex, versions.of(scope, ex.state_stamp))
        answer = self.memo.get(key, stamp)  # type: ignore[union-attr]
        if answer is not None:
            ex.known_version = stamp[2]
            return answer
        answer = canonical(self._tokenize(ex.result, ex, scope))
        # The stamp after tokenizing: what this answer was made with (it may have minted;
        # a mint moves the vault's insert count, so this asks the vault again).
        ex.known_version = versions.of(scope, ex.state_stamp)
        self.memo.put(key, self._stamp(ex, ex.known_version), answer)  # type: ignore[union-attr]
        return answer

    def _stamp(self, ex: Exchange, version: Any) -> tuple[Any, ...]:
        # The detector itself (not its id, which a later object could reuse).
        return (ex.session.scope, ex.tool, version, getattr(self.tokenizer, "detector", None))

    def _tokenize(self, result: Any, ex: Exchange, scope: str) -> Any:
        if self.by_schema and ex.spec.pii:
            # By schema; the tokenizer also scans every other string as free text.
            return self.tokenizer.tokenize_record(result, dict(ex.spec.pii), scope)
        return self.tokenizer.tokenize_any(result, scope, mint=self.mint)


def _mask_known(value: Any, resolved: Mapping[str, str]) -> Any:
    """Put tokens back wherever a real value of this request appears in `value`.

    A part of `value` that holds no real value is returned as it is (not copied), so the
    common case, a result that mentions none of them, costs one walk and no new objects."""
    reverse = {real: token for token, real in resolved.items() if isinstance(real, str) and real}
    if not reverse:
        return value
    # Substrings only for values long enough not to collide with ordinary words; longest
    # first, so a value that contains another is replaced whole.
    inside = sorted((real for real in reverse if len(real) >= 4), key=len, reverse=True)

    def mask(text: str) -> str:
        whole = reverse.get(text)
        if whole is not None:
            return whole
        for real in inside:
            if real in text:
                text = text.replace(real, reverse[real])
        return text

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return mask(item)
        if isinstance(item, dict):
            pairs = [(walk(k), walk(v)) for k, v in item.items()]
            if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, item.items(),
                                                                    strict=True)):
                return item
            return dict(pairs)
        if isinstance(item, list):
            items = [walk(v) for v in item]
            if all(a is b for a, b in zip(items, item, strict=True)):
                return item
            return items
        return item

    return walk(value)


class CheckLlmReply:
    """The provider's reply has the Messages shape the cell relies on (else 500)."""

    name = "check_llm_reply"

    def verify(self, ex: Exchange) -> Verdict:
        from siloos.llm.base import check_reply

        try:
            check_reply(ex.result)
        except Exception as err:  # an unusable reply is an exit failure
            ex.notes["exit_error"] = f"bad model reply: {err}"[:300]
            return refuse(500, "llm: exit failed")
        return PASS


class CountLlmUsage:
    """Spend the reply's tokens against the hop's `llm_tokens` budget and record them."""

    name = "count_llm_usage"

    def __init__(self, counters: HopCounters, store: StatePort) -> None:
        self.counters = counters
        self.store = store

    def verify(self, ex: Exchange) -> Verdict:
        usage = ex.result["usage"]
        tokens_in, tokens_out = int(usage["input_tokens"]), int(usage["output_tokens"])
        self.counters.spend("llm_tokens", tokens_in + tokens_out)
        ex.notes["llm_tokens"] = tokens_in + tokens_out
        try:
            self.store.add_llm_usage(ex.session.task_id, ex.session.hop, ex.session.agent,
                                     input_tokens=tokens_in, output_tokens=tokens_out)
        except Exception as err:  # accounting is kept in memory regardless
            ex.notes["usage_not_recorded"] = type(err).__name__
        return PASS


def llm_args(ex: Exchange) -> dict[str, Any]:
    """The `llm` op's fields as the `llm` exit's arguments."""
    return dict(ex.request.fields)


def llm_args_with_model(services: ExitServices) -> Callable[[Exchange], dict[str, Any]]:
    """The `llm` op's fields, with the manifest's `model` when the cell names none.

    The model is part of the request the constraints judge: an agent granted
    `llm: {models: [...]}` is checked against the model that will really be asked for —
    the one it names, else its manifest's (host-side, from the router) — instead of
    being refused for leaving out an argument it never chose.
    """

    def args_of(ex: Exchange) -> dict[str, Any]:
        args = dict(ex.request.fields)
        if not args.get("model") and services.llm_model:
            args["model"] = services.llm_model
        return args

    return args_of


class LogLlmExchange:
    """Append the (tokenized) prompt and reply to `.silo/logs/llm.jsonl` (design §12).

    The request is the cell's own words, so it can only hold what the cell was shown;
    it is scanned anyway before it is written, like everything SiloOS stores.
    """

    name = "log_llm_exchange"

    def __init__(self, services: ExitServices, tokenizer: TokenizerPort) -> None:
        self.services = services
        self.tokenizer = tokenizer

    def verify(self, ex: Exchange) -> Verdict:
        log = self.services.llm_log
        if log is None:
            return PASS
        scope = ex.session.scope
        try:
            request = self.tokenizer.tokenize_any(dict(ex.args), scope, mint=False)
            model = str((ex.result or {}).get("model") or ex.args.get("model") or "")
            log.append(task_id=ex.session.task_id, hop=ex.session.hop, agent=ex.session.agent,
                       model=model, request=request, reply=ex.result)
        except Exception as err:  # the prompt log must never take the hop down
            ex.notes["llm_log_error"] = type(err).__name__
        return PASS
