"""Reading a key without trusting it, for `silo keys inspect` (design §10).

Owns decoding a compact JWT's header and claims as plain JSON (no signature check, nothing
acted upon) and reporting, separately, whether the signature verifies under the workspace
keyring and whether the key as a whole would be accepted by the membrane's checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from siloos.errors import InputError
from siloos.keys.claims import BASE_TYP, TASK_TYP
from siloos.keys.policy import (
    CheckContext,
    Fail,
    Policy,
    WellFormed,
    b64url_decode,
    base_key_policy,
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
    """Header and claims of a compact JWT, decoded but NOT verified; InputError if garbled."""
    ctx = CheckContext(token=token, public_keys={}, revocations=_NeverAsked(), now=0,
                       leeway=0, expected_agent=None)
    outcome = WellFormed().verify(ctx)
    if isinstance(outcome, Fail):
        raise InputError(f"not a readable key: {outcome.reason}")
    try:
        claims = json.loads(b64url_decode(token.split(".")[1]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError("not a readable key: claims are not valid JSON") from None
    if not isinstance(claims, dict):
        raise InputError("not a readable key: claims are not a JSON object")
    return dict(ctx.header or {}), claims


class _NeverAsked:
    """A RevocationCheck for the parse-only step, which never consults revocations."""

    def is_revoked(self, jti: str) -> bool:
        return True


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
        full_fail = sig_fail or Fail(401, f"typ is neither {BASE_TYP!r} nor {TASK_TYP!r}")
    return Inspection(
        header=header, claims=claims,
        signature_ok=sig_fail is None, signature_reason=sig_fail.reason if sig_fail else None,
        accepted=full_fail is None,
        refusal_code=full_fail.code if full_fail else None,
        refusal_reason=full_fail.reason if full_fail else None,
    )
