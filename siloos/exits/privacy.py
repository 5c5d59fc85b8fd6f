"""Privacy-preserving exits: answer questions about personal data without revealing it.

`identity.verify` tells whether a value the agent holds a hash of equals the real value
behind a token; `customers.compare` tells which of the customer's fields equal claimed
values. Both compare host-side; the real value never leaves.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from siloos.exits.backoffice import ExitRefused
from siloos.exits.spec import ExitContext, exit


def _sha256(value: Any) -> str:
    return hashlib.sha256(str(value).strip().encode("utf-8")).hexdigest()


@exit("identity.verify", hydrate=("token",), scope="customer")
def identity_verify(ctx: ExitContext, token: str, value_sha256: str) -> dict[str, Any]:
    """Whether sha256 of the real value behind `token` equals `value_sha256`."""
    return {"match": hmac.compare_digest(_sha256(token), str(value_sha256).lower())}


COMPARABLE = ("name", "email", "phone", "address", "dob")


@exit("customers.compare", hydrate=("customer",), scope="customer")
def customers_compare(ctx: ExitContext, customer: str, claimed: dict[str, Any]) -> dict[str, Any]:
    """Which of the customer's fields equal the claimed values (each given as sha256 hex)."""
    if ctx.customer_id is None or customer != ctx.customer_id:
        raise ExitRefused("customer is outside this task's scope")
    row = ctx.services["backoffice"].get_customer(customer)
    equal = {}
    for field, digest in claimed.items():
        if field not in COMPARABLE:
            raise ExitRefused(f"cannot compare field {field!r}")
        equal[field] = hmac.compare_digest(_sha256(row.get(field, "")), str(digest).lower())
    return {"equal": equal}
