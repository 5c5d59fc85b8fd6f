"""Reading a key without trusting it, for `silo keys inspect` (design §10).

Owns decoding a compact JWT's header and claims as plain JSON (no signature check, nothing
acted upon) and reporting, separately, whether the signature verifies under the workspace
keyring and whether the key as a whole would be accepted by the membrane's checks.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from siloos.errors import InputError
from siloos.keys.claims import BASE_TYP, TASK_TYP
from siloos.keys.policy import (
    MAX_TOKEN_CHARS,
    CheckContext,
    Fail,
    Policy,
    b64url_decode,
    base_key_policy,
    no_duplicates,
    signature_steps,
    task_key_policy,
)
from siloos.keys.revocations import RevocationCheck


@dataclass(frozen=True)
class Inspection:
    """What a key says (untrusted) and what the checks made of it."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signature_ok: bool
    signature_reason: str | None
    accepted: bool
    refusal_code: int | None
    refusal_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "header": self.header, "claims": self.claims,
            "signature": {"verified": self.signature_ok, "reason": self.signature_reason},
            "accepted": {"ok": self.accepted, "code": self.refusal_code,
                         "reason": self.refusal_reason},
        }


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWT, decoded but NOT verified; InputError if garbled.

    Tolerant on purpose where the verifier is not: a missing or empty signature (an
    `alg: none` forgery) still shows its header and claims, so an operator can see it.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InputError("not a readable key: missing or too long")
    segments = token.split(".")
    if len(segments) not in (2, 3):
        raise InputError("not a readable key: expected header.claims.signature")
    decoded = []
    for what, segment in zip(("header", "claims"), segments[:2], strict=True):
        try:
            value = json.loads(b64url_decode(segment).decode("utf-8"),
                               object_pairs_hook=no_duplicates)
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise InputError(f"not a readable key: {what} is not base64url JSON") from None
        if not isinstance(value, dict):
            raise InputError(f"not a readable key: {what} is not a JSON object")
        decoded.append(value)
    return decoded[0], decoded[1]


def inspect_key(token: str, public_keys: Mapping[str, Ed25519PublicKey],
                revocations: RevocationCheck, now: float, leeway: int = 5) -> Inspection:
    """Decode `token` and judge it: signature alone, then the full policy for its typ."""
    header, claims = peek(token)
    agent = claims.get("agent") if isinstance(claims.get("agent"), str) else None

    def run(policy: Policy) -> Fail | None:
        ctx = CheckContext(token=token, public_keys=public_keys, revocations=revocations,
                           now=now, leeway=leeway, expected_agent=agent)
        outcome = policy.verify(ctx)
        return outcome if isinstance(outcome, Fail) else None

    sig_fail = run(Policy(signature_steps()))
    typ = header.get("typ")
    full_fail: Fail | None
    if typ == BASE_TYP:
        full_fail = run(base_key_policy())
    elif typ == TASK_TYP:
        full_fail = run(task_key_policy())
    else:
        full_fail = sig_fail if sig_fail is not None else \
            Fail(401, f"typ is neither {BASE_TYP!r} nor {TASK_TYP!r}")
    return Inspection(
        header=header, claims=claims,
        signature_ok=sig_fail is None,
        signature_reason=None if sig_fail is None else sig_fail.reason,
        accepted=full_fail is None,
        refusal_code=None if full_fail is None else full_fail.code,
        refusal_reason=None if full_fail is None else full_fail.reason,
    )
