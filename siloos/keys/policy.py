"""The key checks of design §5, each a small named policy object, and their composition.

Owns the order in which a presented key is judged: well formed → algorithm exactly EdDSA →
no embedded keys or unknown header fields → kid in the fixed map → signature (pyjwt,
EdDSA only) → time window → issuer/audience → typ → claim shape → agent → not revoked.
Each step's `verify(ctx)` returns `Ok` or `Fail(code, reason)`; a `Policy` runs them in
order, stops at the first failure and refuses to be built empty (an empty policy would
accept everything). Steps that learn something (the parsed header, the verified payload)
record it on the `CheckContext` for the steps after them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from siloos.keys.claims import (
    ALGORITHM,
    AUDIENCE,
    BASE_TYP,
    ISSUER,
    REGISTERED_CLAIMS,
    TASK_TYP,
    BaseClaims,
    ClaimsShapeError,
    TaskClaims,
    parse_base_claims,
    parse_task_claims,
)
from siloos.keys.revocations import RevocationCheck

#: Larger than any key we mint (caps of a big agent are a few KiB), far below a 1 MiB frame.
MAX_TOKEN_CHARS = 64 * 1024
MAX_LEEWAY_SECONDS = 5
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
#: Header fields that carry or point to key material: an attacker's way to pick the key.
EMBEDDED_KEY_FIELDS = ("jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit")
ALLOWED_HEADER_FIELDS = frozenset(("alg", "typ", "kid"))

UNAUTHORIZED = 401
FORBIDDEN = 403
REVOKED = 409


@dataclass(frozen=True)
class Ok:
    """A step passed."""

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Fail:
    """A step refused the key: the membrane's error code and a one-line reason."""

    code: int
    reason: str

    def __bool__(self) -> bool:
        return False


OK = Ok()
Outcome = Ok | Fail


@dataclass
class CheckContext:
    """One key being judged, and what earlier steps learned about it."""

    token: Any
    public_keys: Mapping[str, Ed25519PublicKey]
    revocations: RevocationCheck
    now: float
    leeway: int
    expected_agent: str | None
    header: dict[str, Any] | None = None
    public_key: Ed25519PublicKey | None = None
    payload: dict[str, Any] | None = None
    claims: BaseClaims | TaskClaims | None = field(default=None)


class Step(Protocol):
    """One named check."""

    name: str

    def verify(self, ctx: CheckContext) -> Outcome: ...


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # Two parsers may pick different copies of a duplicated field: refuse it.
            raise ValueError(f"duplicate header field {key!r}")
        seen[key] = value
    return seen


class WellFormed:
    """A compact JWS: a bounded ASCII string of three non-empty base64url segments whose
    header is a JSON object without duplicate fields. Records the parsed header."""

    name = "well-formed"

    def verify(self, ctx: CheckContext) -> Outcome:
        token = ctx.token
        if not isinstance(token, str) or not token:
            return Fail(UNAUTHORIZED, "key missing")
        if len(token) > MAX_TOKEN_CHARS:
            return Fail(UNAUTHORIZED, f"key longer than {MAX_TOKEN_CHARS} characters")
        parts = token.split(".")
        if len(parts) != 3:
            return Fail(UNAUTHORIZED, "key is not a compact JWT (three dot-separated parts)")
        if not all(_SEGMENT.match(p) for p in parts):
            # Also refuses an empty (null) signature segment, as in `alg: none` forgeries.
            return Fail(UNAUTHORIZED, "key has an empty or non-base64url part")
        try:
            header = json.loads(b64url_decode(parts[0]).decode("utf-8"),
                                object_pairs_hook=no_duplicates)
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as err:
            return Fail(UNAUTHORIZED, f"key header is not valid JSON: {str(err)[:80]}")
        if not isinstance(header, dict):
            return Fail(UNAUTHORIZED, "key header is not a JSON object")
        ctx.header = header
        return OK


class AlgorithmIsEdDSA:
    """The header's `alg` must be exactly "EdDSA"; it never chooses anything."""

    name = "algorithm"

    def verify(self, ctx: CheckContext) -> Outcome:
        alg = (ctx.header or {}).get("alg")
        if alg != ALGORITHM or not isinstance(alg, str):
            return Fail(UNAUTHORIZED, f"algorithm {_show(alg)} refused; only EdDSA is accepted")
        return OK


class NoEmbeddedKeys:
    """No header field that carries or points to key material (jwk, jku, x5u, x5c, crit…)."""

    name = "no-embedded-keys"

    def verify(self, ctx: CheckContext) -> Outcome:
        found = [f for f in EMBEDDED_KEY_FIELDS if f in (ctx.header or {})]
        if found:
            return Fail(UNAUTHORIZED, f"header field {found[0]!r} refused: keys come only "
                                      "from the workspace keyring")
        return OK


class OnlyKnownHeaderFields:
    """The header holds alg, typ and kid and nothing else: no field we would have to trust."""

    name = "header-fields"

    def verify(self, ctx: CheckContext) -> Outcome:
        extra = sorted(str(k) for k in (ctx.header or {}) if k not in ALLOWED_HEADER_FIELDS)
        if extra:
            return Fail(UNAUTHORIZED, f"unexpected header field {_show(extra[0])}")
        return OK


class KnownKid:
    """`kid` is a string naming a key in the fixed map; records that public key."""

    name = "kid"

    def verify(self, ctx: CheckContext) -> Outcome:
        kid = (ctx.header or {}).get("kid")
        if kid is None:
            return Fail(UNAUTHORIZED, "key has no kid")
        if not isinstance(kid, str):
            return Fail(UNAUTHORIZED, "key's kid is not a string")
        key = ctx.public_keys.get(kid)
        if key is None:
            return Fail(UNAUTHORIZED, f"unknown kid {_show(kid)}")
        ctx.public_key = key
        return OK


class ValidSignature:
    """The Ed25519 signature verifies under the kid's key, with pyjwt pinned to EdDSA.

    pyjwt also checks iss, aud and that the registered claims are present (a second lock
    beside the steps that follow); the time window is the next step's job, against the
    verifier's clock, so pyjwt's own wall-clock checks are switched off here.
    """

    name = "signature"

    def verify(self, ctx: CheckContext) -> Outcome:
        if ctx.public_key is None:
            return Fail(UNAUTHORIZED, "no verification key selected")
        try:
            payload = jwt.decode(
                ctx.token, key=ctx.public_key, algorithms=[ALGORITHM],
                audience=AUDIENCE, issuer=ISSUER, leeway=ctx.leeway,
                options={"require": list(REGISTERED_CLAIMS), "verify_signature": True,
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "verify_aud": True, "verify_iss": True, "strict_aud": True},
            )
        except jwt.InvalidSignatureError:
            return Fail(UNAUTHORIZED, "signature does not verify")
        except jwt.InvalidAudienceError:
            return Fail(UNAUTHORIZED, f"wrong audience (expected {AUDIENCE!r})")
        except jwt.InvalidIssuerError:
            return Fail(UNAUTHORIZED, f"wrong issuer (expected {ISSUER!r})")
        except jwt.MissingRequiredClaimError as err:
            return Fail(UNAUTHORIZED, f"missing claim {err.claim!r}")
        except jwt.InvalidTokenError as err:
            return Fail(UNAUTHORIZED, f"key refused: {str(err)[:120]}")
        if not isinstance(payload, dict):
            return Fail(UNAUTHORIZED, "key payload is not a JSON object")
        ctx.payload = payload
        return OK


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TimeWindow:
    """iat/nbf not in the future and exp not past, each within the leeway (≤ 5 s)."""

    name = "time"

    def verify(self, ctx: CheckContext) -> Outcome:
        p = ctx.payload or {}
        iat, nbf, exp = p.get("iat"), p.get("nbf"), p.get("exp")
        if not (_is_int(iat) and _is_int(nbf) and _is_int(exp)):
            return Fail(UNAUTHORIZED, "iat, nbf and exp must be integers")
        if exp <= ctx.now - ctx.leeway:
            return Fail(UNAUTHORIZED, "key expired")
        if nbf > ctx.now + ctx.leeway:
            return Fail(UNAUTHORIZED, "key not yet valid (nbf in the future)")
        if iat > ctx.now + ctx.leeway:
            return Fail(UNAUTHORIZED, "key issued in the future (iat)")
        if exp <= iat:
            return Fail(UNAUTHORIZED, "key expires before it was issued")
        return OK


class IssuerAudience:
    """iss is exactly "silo" and aud exactly "silo-membrane" (a string, not a list)."""

    name = "issuer-audience"

    def verify(self, ctx: CheckContext) -> Outcome:
        p = ctx.payload or {}
        if p.get("iss") != ISSUER:
            return Fail(UNAUTHORIZED, f"wrong issuer (expected {ISSUER!r})")
        if p.get("aud") != AUDIENCE:
            return Fail(UNAUTHORIZED, f"wrong audience (expected {AUDIENCE!r})")
        return OK


class TypeIs:
    """The header `typ` is exactly the kind of key this slot takes; base ≠ task, ever."""

    def __init__(self, typ: str) -> None:
        if typ not in (BASE_TYP, TASK_TYP):
            raise ValueError(f"unknown key type {typ!r}")
        self.typ = typ
        self.name = f"typ={typ}"

    def verify(self, ctx: CheckContext) -> Outcome:
        got = (ctx.header or {}).get("typ")
        if got != self.typ or not isinstance(got, str):
            kind = "task" if self.typ == TASK_TYP else "base"
            return Fail(UNAUTHORIZED, f"not a {kind} key (typ {_show(got)}, "
                                      f"expected {self.typ!r})")
        return OK


class ClaimsShape:
    """The payload has exactly the claims of its kind, well typed; records typed claims."""

    def __init__(self, parse: Callable[..., BaseClaims | TaskClaims], kind: str) -> None:
        self.parse = parse
        self.kind = kind
        self.name = f"{kind}-claims"

    def verify(self, ctx: CheckContext) -> Outcome:
        kid = (ctx.header or {}).get("kid")
        try:
            ctx.claims = self.parse(ctx.payload or {}, kid=str(kid))
        except ClaimsShapeError as err:
            return Fail(UNAUTHORIZED, f"malformed {self.kind} key: {err}")
        return OK


class AgentMatches:
    """The key was minted for the agent this cell was started for."""

    name = "agent"

    def verify(self, ctx: CheckContext) -> Outcome:
        agent = getattr(ctx.claims, "agent", None)
        if ctx.expected_agent is None or agent != ctx.expected_agent:
            return Fail(FORBIDDEN, f"key is for agent {_show(agent)}, not this cell's agent")
        return OK


class NotRevoked:
    """The key's jti is not revoked. A store that cannot answer counts as revoked."""

    name = "not-revoked"

    def verify(self, ctx: CheckContext) -> Outcome:
        jti = getattr(ctx.claims, "jti", None)
        if not isinstance(jti, str):
            return Fail(UNAUTHORIZED, "key has no jti")
        try:
            revoked = ctx.revocations.is_revoked(jti)
        except Exception:  # any store failure must fail closed
            return Fail(REVOKED, "revocation status unavailable; refusing the key")
        if revoked is not False:
            return Fail(REVOKED, "key revoked (task hop no longer active)")
        return OK


class Policy:
    """Named steps run in order; the first failure wins. An empty policy is refused."""

    def __init__(self, steps: Sequence[Step]) -> None:
        if not steps:
            raise ValueError("a Policy needs at least one step; an empty one would accept "
                             "any key")
        self.steps = tuple(steps)

    def verify(self, ctx: CheckContext) -> Outcome:
        for step in self.steps:
            try:
                outcome = step.verify(ctx)
            except Exception:  # a check that crashes refuses, never passes
                return Fail(UNAUTHORIZED, f"{step.name}: key could not be checked")
            if not isinstance(outcome, Ok):
                return outcome if isinstance(outcome, Fail) else \
                    Fail(UNAUTHORIZED, f"{step.name}: check gave no answer")
        return OK


def signature_steps() -> list[Step]:
    """Everything up to and including the signature: what `silo keys inspect` reports."""
    return [WellFormed(), AlgorithmIsEdDSA(), NoEmbeddedKeys(), OnlyKnownHeaderFields(),
            KnownKid(), ValidSignature()]


def base_key_policy() -> Policy:
    """§5 for the base key slot."""
    return Policy([*signature_steps(), TimeWindow(), IssuerAudience(), TypeIs(BASE_TYP),
                   ClaimsShape(parse_base_claims, "base"), AgentMatches(), NotRevoked()])


def task_key_policy() -> Policy:
    """§5 for the task key slot."""
    return Policy([*signature_steps(), TimeWindow(), IssuerAudience(), TypeIs(TASK_TYP),
                   ClaimsShape(parse_task_claims, "task"), AgentMatches(), NotRevoked()])


def _show(value: Any) -> str:
    """A value from an untrusted key, made safe and short for a one-line reason."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
