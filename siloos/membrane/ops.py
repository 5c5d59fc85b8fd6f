"""The last steps of the `task`, `note`, `finish` and `llm` ops (design §5).

Like every step they pass or refuse with a reason; the ones that answer put the reply's
`result` in the exchange. Whatever they store or return is tokenized first.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from siloos.exits import ExitServices
from siloos.membrane.checks import PASS, Verdict, limit_for, refuse
from siloos.membrane.ports import StatePort, TokenizerPort
from siloos.membrane.session import Exchange, HopCounters

FINISH_STATUSES = (200, 301, 302, 400, 500)
REDIRECT_STATUSES = (301, 302)


class AnswerTask:
    """The `task` op: the hop's task payload, tokenized by the router before it got here."""

    name = "answer_task"

    def verify(self, ex: Exchange) -> Verdict:
        ex.result = dict(ex.session.task_payload)
        return PASS


class RecordNote:
    """The `note` op: tokenize the free text and record it as a `note` event."""

    name = "record_note"

    def __init__(self, tokenizer: TokenizerPort, store: StatePort) -> None:
        self.tokenizer = tokenizer
        self.store = store

    def verify(self, ex: Exchange) -> Verdict:
        # The cell's own words: shown as tokens, never minted into hydratable vault rows.
        text = self.tokenizer.tokenize_text(ex.request.fields["text"], ex.session.scope,
                                            mint=False)
        self.store.add_event(ex.session.task_id, "note", {"text": text}, hop=ex.session.hop)
        ex.result = {}
        return PASS


class FinishShape:
    """`status` is one of 200/301/302/400/500; 301 and 302 name a `redirect` (400)."""

    name = "finish_shape"

    def verify(self, ex: Exchange) -> Verdict:
        status = ex.request.fields["status"]
        if status not in FINISH_STATUSES:
            return refuse(400, f"finish: status must be one of {list(FINISH_STATUSES)}")
        redirect = ex.request.fields.get("redirect")
        if status in REDIRECT_STATUSES and not redirect:
            return refuse(400, f"finish: status {status} needs a redirect target")
        if status not in (*REDIRECT_STATUSES, 400) and redirect:
            return refuse(400, f"finish: status {status} takes no redirect")
        return PASS


class RedirectAllowed:
    """A redirect target is one the hop's base key's `escalate_to` lists (403 otherwise).

    `BaseKeyPinned` has already made sure the presented base key is the one minted for this
    hop, so the targets are the current manifest's, not whatever key the cell chose."""

    name = "redirect_allowed"

    def verify(self, ex: Exchange) -> Verdict:
        redirect = ex.request.fields.get("redirect")
        if redirect and redirect not in ex.base.escalate_to:
            return refuse(403, f"finish: {redirect[:64]!r} is not an allowed escalation target")
        return PASS


class EndHop:
    """Tokenize the summary and output, revoke the task key, and mark the hop finished.

    The revocation is written before the reply is sent, so no later request with this key
    can act (409), on this membrane or any other.
    """

    name = "end_hop"

    def __init__(self, tokenizer: TokenizerPort, store: StatePort,
                 on_finish: Callable[[Mapping[str, Any]], None]) -> None:
        self.tokenizer = tokenizer
        self.store = store
        self.on_finish = on_finish

    def verify(self, ex: Exchange) -> Verdict:
        fields, scope = ex.request.fields, ex.session.scope
        record = {
            "status": fields["status"],
            # The cell's own words (they become the next hop's history): never minted.
            "summary": self.tokenizer.tokenize_any(dict(fields.get("summary") or {}), scope,
                                                   mint=False),
            "output": self.tokenizer.tokenize_any(dict(fields.get("output") or {}), scope,
                                                  mint=False),
            "redirect": fields.get("redirect"),
        }
        self.store.revoke(ex.task.jti, task_id=ex.session.task_id, hop=ex.session.hop,
                          reason=f"hop finished with {fields['status']}")
        self.on_finish(record)
        ex.notes["status"] = fields["status"]
        if record["redirect"]:
            ex.notes["redirect"] = record["redirect"]
        ex.result = {}
        return PASS


class LlmAvailable:
    """The `llm` op needs a model provider among the membrane's services (404 otherwise)."""

    name = "llm_available"

    def __init__(self, services: ExitServices) -> None:
        self.services = services

    def verify(self, ex: Exchange) -> Verdict:
        if self.services.llm is None:
            return refuse(404, "llm not available: no model provider is configured")
        return PASS


class CapMaxTokens:
    """The `llm` op's `max_tokens` is at most the hop's `llm_tokens` budget left (429 when
    none is left, 400 below 1).

    The budget is spent after a reply, from its usage; without this cap one call could ask
    the provider for any number of tokens, many times the whole budget, on the operator's
    account. A cell that names no `max_tokens` gets the `llm` exit's own default, capped
    the same way.
    """

    name = "cap_max_tokens"

    def __init__(self, counters: HopCounters) -> None:
        self.counters = counters

    def verify(self, ex: Exchange) -> Verdict:
        limit = limit_for(ex, "llm_tokens")
        left = limit - self.counters.llm_tokens
        if left <= 0:
            return refuse(429, f"llm_tokens budget of {limit} is exhausted")
        asked = ex.exit_args.get("max_tokens")
        if asked is None:
            asked = _default_max_tokens(ex.spec.func, left)
        if not isinstance(asked, int) or isinstance(asked, bool) or asked < 1:
            return refuse(400, "llm: max_tokens must be a positive integer")
        if asked > left:
            ex.notes["max_tokens_capped"] = left
        ex.exit_args["max_tokens"] = min(asked, left)
        return PASS


def _default_max_tokens(func: Callable[..., Any], left: int) -> Any:
    """What the exit would ask for if not told; `left` when it declares no default."""
    try:
        default = inspect.signature(func).parameters["max_tokens"].default
    except (KeyError, TypeError, ValueError):
        return left
    return left if default is inspect.Parameter.empty else default
