"""Intake: turn a submitted task into its tokenized form before anything is stored.

Design §7: the router loads the customer's record from the system of record (through the
`customers.get` exit's PII schema) into the vault first, so that known-value matching
catches the customer's own name or address in the very first message. The customer's order ids
go in too: they are personal data (§7), and customers quote them in their messages. Only
then is the message scanned and stored. The real customer id never reaches the store: the task keeps
the opaque vault scope and the `cust_tk_…` token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siloos.backoffice import NotFound
from siloos.errors import UsageError
from siloos.router.runtime import Runtime


@dataclass(frozen=True)
class Intake:
    """A task ready to store: scope and tokens, plus the real customer id for the host."""

    customer_id: str | None
    scope: str
    customer_token: str | None
    case_token: str
    input: dict[str, Any]


def take_in(rt: Runtime, *, customer: str | None, message: str | None,
            extra_input: dict[str, Any] | None) -> Intake:
    """Tokenize a new task's customer, message and input (nothing is stored yet)."""
    if customer is not None:
        customer = customer.strip()
        if not customer:
            raise UsageError("--customer is empty")
        try:
            record = rt.backoffice.get_customer(customer)
        except NotFound:
            raise UsageError("unknown customer (not in the back office; "
                             "`silo data import customers FILE.csv`)") from None
        scope = rt.vault.scope_for(customer)
        spec = rt.registry.get("customers.get")
        pii = dict(spec.pii) if spec else {}
        pii.setdefault("dob", "dob")
        rt.tokenizer.load_known(record, pii, scope)
        _load_known_orders(rt, customer, scope)
        customer_token = rt.vault.tokenize(customer, "cust", scope)
    else:
        # A task with no customer still gets a scope of its own: free text it carries is
        # tokenized into that scope and no other task can resolve it.
        scope = rt.vault.scope_for("anonymous:" + secrets.token_hex(16))
        customer_token = None
    case_token = rt.vault.tokenize("case:" + secrets.token_hex(16), "case", scope)
    payload: dict[str, Any] = {}
    if extra_input:
        payload.update(_tokenize_input(rt, extra_input, scope))
    if message is not None:
        payload["message"] = rt.tokenizer.tokenize_text(message, scope)
    if customer_token is not None:
        payload["customer"] = customer_token
    payload["case"] = case_token
    return Intake(customer_id=customer, scope=scope, customer_token=customer_token,
                  case_token=case_token, input=payload)


def _load_known_orders(rt: Runtime, customer: str, scope: str) -> None:
    """The customer's real order ids into the vault, through `orders.list`'s PII schema,
    so "my order O-5001" in a message is tokenized like any other known value."""
    spec = rt.registry.get("orders.list")
    pii = {k: v for k, v in (spec.pii if spec else {}).items() if v == "ord"} or {"order": "ord"}
    for order in rt.backoffice.list_orders(customer):
        rt.tokenizer.load_known(order, pii, scope)


def _tokenize_input(rt: Runtime, value: Any, scope: str) -> Any:
    """`--input` tokenized keys and all. An operator's input may carry a value as a key
    ({"Jane Roe": …}); unlike `tokenize_any`, which keeps colliding keys apart with a
    suffix, intake refuses them: the operator should say what they meant."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            safe = rt.tokenizer.tokenize_text(str(key), scope)
            if safe in out:
                raise UsageError("--input has two keys that stand for the same value")
            out[safe] = _tokenize_input(rt, item, scope)
        return out
    if isinstance(value, list):
        return [_tokenize_input(rt, item, scope) for item in value]
    return rt.tokenizer.tokenize_any(value, scope)
