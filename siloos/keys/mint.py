"""Minting base keys (per agent version and pack digest) and task keys (per hop), design §6.

Owns turning a keyring and the facts of an agent or a hop into compact EdDSA JWTs with
exactly the claims of §6. A task key's `narrow` is checked here so that a router bug
cannot mint a key naming an exit the base key does not grant.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from siloos.errors import UsageError
from siloos.keys.claims import (
    ALGORITHM,
    AUDIENCE,
    BASE_TYP,
    GRANTED_BY,
    ISSUER,
    TASK_TYP,
    ClaimsShapeError,
    base_subject,
    check_caps_shape,
    parse_base_claims,
    parse_task_claims,
    task_subject,
)
from siloos.keys.keyring import KeyRing

#: A base key lives as long as a deployment of one agent version is expected to.
DEFAULT_BASE_TTL_SECONDS = 30 * 24 * 3600
#: A task key outlives the cell's wall time by at most this much (design §6).
TASK_GRACE_SECONDS = 30
#: A base key minted for one hop outlives the cell's wall time by at most this much: the
#: membrane only ever accepts the hop's own base key, so a longer life would only leave a
#: valid key lying around in a cell's memory after its hop.
HOP_BASE_GRACE_SECONDS = 60


class MintError(UsageError):
    """Asked to mint a key that would break a rule of §6 (exit 2)."""


@dataclass(frozen=True)
class MintedBaseKey:
    """A freshly minted base key and the facts the router pins the hop's membrane to."""

    token: str
    jti: str
    exp: int


@dataclass(frozen=True)
class MintedTaskKey:
    """A freshly minted task key and the two facts the router records: its jti and expiry."""

    token: str
    jti: str
    exp: int


def new_jti() -> str:
    """An unguessable key id (128 random bits, hex)."""
    return secrets.token_hex(16)


def _sign(ring: KeyRing, claims: dict[str, Any], typ: str) -> str:
    return jwt.encode(claims, ring.signing_key, algorithm=ALGORITHM,
                      headers={"kid": ring.kid, "typ": typ})


def _now(now: float | None) -> int:
    return int(time.time() if now is None else now)


def mint_base_key(ring: KeyRing, *, agent: str, version: str, digest: str,
                  caps: Mapping[str, Mapping[str, Any]], escalate_to: Sequence[str],
                  limits: Mapping[str, int], ttl_seconds: int = DEFAULT_BASE_TTL_SECONDS,
                  now: float | None = None) -> str:
    """A base key granting `caps` to `agent@version`, bound to the pack `digest`."""
    return _mint_base(ring, agent=agent, version=version, digest=digest, caps=caps,
                      escalate_to=escalate_to, limits=limits, ttl_seconds=ttl_seconds,
                      now=now).token


def mint_hop_base_key(ring: KeyRing, *, agent: str, version: str, digest: str,
                      caps: Mapping[str, Mapping[str, Any]], escalate_to: Sequence[str],
                      limits: Mapping[str, int], now: float | None = None) -> MintedBaseKey:
    """A base key for exactly one hop: it expires `limits["wall_seconds"]` + 60 s after
    minting, and its jti is returned so that the hop's membrane accepts no other base key
    and the router can revoke it when the hop ends."""
    wall = limits.get("wall_seconds")
    if not isinstance(wall, int) or isinstance(wall, bool) or wall <= 0:
        raise MintError("a hop's base key needs a positive wall_seconds limit")
    return _mint_base(ring, agent=agent, version=version, digest=digest, caps=caps,
                      escalate_to=escalate_to, limits=limits,
                      ttl_seconds=wall + HOP_BASE_GRACE_SECONDS, now=now)


def _mint_base(ring: KeyRing, *, agent: str, version: str, digest: str,
               caps: Mapping[str, Mapping[str, Any]], escalate_to: Sequence[str],
               limits: Mapping[str, int], ttl_seconds: int,
               now: float | None) -> MintedBaseKey:
    if not agent or not version:
        raise MintError("a base key needs an agent name and version")
    if not isinstance(ttl_seconds, int) or isinstance(ttl_seconds, bool) or ttl_seconds <= 0:
        raise MintError("ttl_seconds must be a positive integer")
    try:
        caps_checked = check_caps_shape(dict(caps))
    except ClaimsShapeError as err:
        raise MintError(str(err)) from None
    iat = _now(now)
    jti = new_jti()
    exp = iat + ttl_seconds
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": base_subject(agent, version),
        "jti": jti, "iat": iat, "nbf": iat, "exp": exp,
        "agent": agent, "version": version, "digest": digest,
        "caps": caps_checked, "escalate_to": list(escalate_to), "limits": dict(limits),
    }
    _self_check(parse_base_claims, claims, ring)
    return MintedBaseKey(token=_sign(ring, claims, BASE_TYP), jti=jti, exp=exp)


def _self_check(parse: Any, claims: dict[str, Any], ring: KeyRing) -> None:
    # Mint only what the verifier will accept: one shape rule for both sides.
    try:
        parse(claims, kid=ring.kid)
    except ClaimsShapeError as err:
        raise MintError(f"refusing to mint: {err}") from None


def check_narrow(narrow: Mapping[str, Mapping[str, Any]],
                 caps: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Refuse a `narrow` naming an exit that `caps` does not grant (it would try to widen)."""
    try:
        shaped = check_caps_shape(dict(narrow), "narrow")
    except ClaimsShapeError as err:
        raise MintError(str(err)) from None
    extra = sorted(name for name in shaped if name not in caps)
    if extra:
        raise MintError("narrow names exits the base key does not grant: " + ", ".join(extra))
    return shaped


def mint_task_key(ring: KeyRing, *, agent: str, task_id: str, hop: int,
                  customer_token: str | None, case_token: str | None, wall_seconds: int,
                  narrow: Mapping[str, Mapping[str, Any]] | None = None,
                  caps: Mapping[str, Mapping[str, Any]] | None = None,
                  now: float | None = None) -> MintedTaskKey:
    """A task key for one hop; it expires `wall_seconds` + 30 s after minting.

    `narrow`, when given, needs `caps` (the base key's capabilities) so that it can be
    checked to only narrow; without `caps` a narrowed key is refused rather than trusted.
    """
    if not agent or not task_id:
        raise MintError("a task key needs an agent name and a task id")
    if not isinstance(hop, int) or isinstance(hop, bool) or hop < 0:
        raise MintError("hop must be a non-negative integer")
    if not isinstance(wall_seconds, int) or isinstance(wall_seconds, bool) or wall_seconds <= 0:
        raise MintError("wall_seconds must be a positive integer")
    iat = _now(now)
    jti = new_jti()
    exp = iat + wall_seconds + TASK_GRACE_SECONDS
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": task_subject(task_id, hop),
        "jti": jti, "iat": iat, "nbf": iat, "exp": exp,
        "agent": agent, "task_id": task_id, "hop": hop,
        "customer_token": customer_token, "case_token": case_token,
        "granted_by": GRANTED_BY,
    }
    if narrow is not None:
        if caps is None:
            raise MintError("a narrowed task key needs the base key's caps to check against")
        claims["narrow"] = check_narrow(narrow, caps)
    _self_check(parse_task_claims, claims, ring)
    return MintedTaskKey(token=_sign(ring, claims, TASK_TYP), jti=jti, exp=exp)
