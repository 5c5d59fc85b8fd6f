"""Privacy-preserving exits: answer questions about personal data without revealing it.

`identity.verify` tells whether a value the agent holds a hash of equals the real value
behind a token; `customers.compare` tells which of the customer's fields equal claimed
values. Both compare host-side; the real value never leaves.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from siloos.exits.backoffice import back_office_errors, backoffice
from siloos.exits.errors import ExitRefused
from siloos.exits.spec import ExitContext, exit


def _sha256(value: Any) -> str:
    return hashlib.sha256(str(value).strip().encode("utf-8")).hexdigest()


#: Token kinds identity.verify answers for: what a customer proves who they are with.
#: Never ids (`cust`, `ord`, `case`): back-office ids are short and guessable, so a
#: yes/no answer about them would be an oracle for the real value.
VERIFIABLE_KINDS = frozenset({"name", "email", "phone", "dob", "addr"})
#: Wrong guesses allowed per token per hop before the exit stops answering for it.
MAX_MISMATCHES = 3


@exit("identity.verify", hydrate=("token",), scope="customer")
def identity_verify(ctx: ExitContext, token: str, value_sha256: str) -> dict[str, Any]:
    """Whether sha256 of the real value behind `token` equals `value_sha256`.

    Only for identity fields (name, email, phone, date of birth, address), and only a few
    wrong guesses per token: it checks what a customer claims, it is not a search.
    """
    kind = ctx.arg_kinds.get("token")
    if kind not in VERIFIABLE_KINDS:
        raise ExitRefused("identity.verify answers only for name, email, phone, dob or "
                          "addr tokens")
    ledger = ctx.services.attempts
    if ledger is None:  # without a ledger the guess limit cannot hold: fail closed
        raise ExitRefused("identity.verify is unavailable (no attempt ledger)")
    key = ("identity.verify", ctx.task_id, ctx.arg_tokens.get("token", ""))
    if ledger.get(key, 0) >= MAX_MISMATCHES:
        raise ExitRefused(f"identity.verify: too many wrong guesses for this token "
                          f"({MAX_MISMATCHES}); ask a human to verify")
    match = hmac.compare_digest(_sha256(token), str(value_sha256).lower())
    if not match:
        ledger[key] = ledger.get(key, 0) + 1
    return {"match": match}


COMPARABLE = ("name", "email", "phone", "address", "dob")


@exit("customers.compare", hydrate=("customer",), scope="customer")
@back_office_errors()
def customers_compare(ctx: ExitContext, customer: str, claimed: dict[str, Any]) -> dict[str, Any]:
    """Which of the customer's fields equal the claimed values (each given as sha256 hex)."""
    if ctx.customer_id is None or customer != ctx.customer_id:
        raise ExitRefused("customer is outside this task's scope")
    row = backoffice(ctx).get_customer(customer)
    equal = {}
    for field, digest in claimed.items():
        if field not in COMPARABLE:
            raise ExitRefused(f"cannot compare field {field!r}")
        equal[field] = hmac.compare_digest(_sha256(row.get(field, "")), str(digest).lower())
    return {"equal": equal}
