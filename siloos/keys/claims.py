"""What a base key and a task key say (design §6): constants, typed claims, shape checks.

Owns the claim vocabulary shared by minting and verifying: issuer, audience, the two `typ`
header values, the exact set of claims each kind of key may carry, and the conversion of a
verified payload into `BaseClaims` / `TaskClaims`. A payload with a missing, extra or
wrongly typed claim is refused here, so a base key can never parse as a task key or back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ISSUER = "silo"
AUDIENCE = "silo-membrane"
BASE_TYP = "silo-base+jwt"
TASK_TYP = "silo-task+jwt"
ALGORITHM = "EdDSA"
GRANTED_BY = "router"

#: Registered claims every key carries; pyjwt is told to require them too.
REGISTERED_CLAIMS = ("iss", "aud", "sub", "jti", "iat", "nbf", "exp")
BASE_CLAIMS = frozenset((*REGISTERED_CLAIMS, "agent", "version", "digest", "caps",
                         "escalate_to", "limits"))
TASK_CLAIMS = frozenset((*REGISTERED_CLAIMS, "agent", "task_id", "hop", "customer_token",
                         "case_token", "granted_by", "narrow"))
#: `narrow` is the only optional claim.
TASK_OPTIONAL = frozenset(("narrow",))

#: jti values: what we mint (hex) and what `silo keys revoke` accepts.
JTI_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
_DIGEST = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


class ClaimsShapeError(ValueError):
    """A payload does not have the exact shape of its kind of key; the message says why."""


@dataclass(frozen=True)
class BaseClaims:
    """A verified base key: what one agent version may do."""

    jti: str
    sub: str
    agent: str
    version: str
    digest: str
    caps: Mapping[str, Mapping[str, Any]]
    escalate_to: tuple[str, ...]
    limits: Mapping[str, int]
    iat: int
    nbf: int
    exp: int
    kid: str


@dataclass(frozen=True)
class TaskClaims:
    """A verified task key: one hop of one task, for one customer/case scope."""

    jti: str
    sub: str
    agent: str
    task_id: str
    hop: int
    customer_token: str | None
    case_token: str | None
    granted_by: str
    narrow: Mapping[str, Mapping[str, Any]] | None
    iat: int
    nbf: int
    exp: int
    kid: str


def base_subject(agent: str, version: str) -> str:
    return f"agent:{agent}@{version}"


def task_subject(task_id: str, hop: int) -> str:
    return f"task:{task_id}/{hop}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need(payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind):
        raise ClaimsShapeError(f"claim {name!r} must be {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "a string", int: "an integer", dict: "an object",
                        list: "a list", type(None): "null"}.get(k, k.__name__) for k in kinds)


def _nonempty_str(payload: Mapping[str, Any], name: str) -> str:
    value = _need(payload, name, str)
    if not value:
        raise ClaimsShapeError(f"claim {name!r} must not be empty")
    return value


def check_caps_shape(caps: Any, name: str = "caps") -> dict[str, dict[str, Any]]:
    """`caps` / `narrow`: an object of exit name → object of constraints."""
    if not isinstance(caps, dict):
        raise ClaimsShapeError(f"claim {name!r} must be an object of exit → constraints")
    out: dict[str, dict[str, Any]] = {}
    for exit_name, constraints in caps.items():
        if not isinstance(exit_name, str) or not exit_name:
            raise ClaimsShapeError(f"claim {name!r} has a non-string exit name")
        if not isinstance(constraints, dict):
            raise ClaimsShapeError(f"claim {name!r}: {exit_name!r} must map to an object")
        out[exit_name] = dict(constraints)
    return out


def _common(payload: Mapping[str, Any], allowed: frozenset[str],
            optional: frozenset[str] = frozenset()) -> None:
    extra = sorted(str(k) for k in payload if k not in allowed)
    if extra:
        raise ClaimsShapeError(f"unexpected claims for this key type: {', '.join(extra)}")
    missing = sorted(k for k in allowed - optional if k not in payload)
    if missing:
        raise ClaimsShapeError(f"missing claims: {', '.join(missing)}")
    for name in ("iat", "nbf", "exp"):
        if not _is_int(payload[name]):
            raise ClaimsShapeError(f"claim {name!r} must be an integer")
    jti = _need(payload, "jti", str)
    if not JTI_PATTERN.match(jti):
        raise ClaimsShapeError("claim 'jti' is not a valid key id")


def parse_base_claims(payload: Mapping[str, Any], *, kid: str) -> BaseClaims:
    """The typed base claims of a signature-checked payload, or ClaimsShapeError."""
    _common(payload, BASE_CLAIMS)
    agent = _nonempty_str(payload, "agent")
    version = _nonempty_str(payload, "version")
    digest = _need(payload, "digest", str)
    if not _DIGEST.match(digest):
        raise ClaimsShapeError("claim 'digest' must be a sha256 hex digest")
    sub = _need(payload, "sub", str)
    if sub != base_subject(agent, version):
        raise ClaimsShapeError("claim 'sub' does not match agent and version")
    escalate = _need(payload, "escalate_to", list)
    if not all(isinstance(t, str) and t for t in escalate):
        raise ClaimsShapeError("claim 'escalate_to' must be a list of names")
    limits = _need(payload, "limits", dict)
    if not all(isinstance(k, str) and _is_int(v) and v >= 0 for k, v in limits.items()):
        raise ClaimsShapeError("claim 'limits' must map names to non-negative integers")
    return BaseClaims(
        jti=payload["jti"], sub=sub, agent=agent, version=version, digest=digest,
        caps=check_caps_shape(payload["caps"]), escalate_to=tuple(escalate),
        limits=dict(limits), iat=payload["iat"], nbf=payload["nbf"], exp=payload["exp"],
        kid=kid,
    )


def parse_task_claims(payload: Mapping[str, Any], *, kid: str) -> TaskClaims:
    """The typed task claims of a signature-checked payload, or ClaimsShapeError."""
    _common(payload, TASK_CLAIMS, TASK_OPTIONAL)
    agent = _nonempty_str(payload, "agent")
    task_id = _nonempty_str(payload, "task_id")
    hop = payload.get("hop")
    if not _is_int(hop) or hop < 0:
        raise ClaimsShapeError("claim 'hop' must be a non-negative integer")
    sub = _need(payload, "sub", str)
    if sub != task_subject(task_id, hop):
        raise ClaimsShapeError("claim 'sub' does not match task_id and hop")
    customer = _need(payload, "customer_token", (str, type(None)))
    case = _need(payload, "case_token", (str, type(None)))
    if payload.get("granted_by") != GRANTED_BY:
        raise ClaimsShapeError(f"claim 'granted_by' must be {GRANTED_BY!r}")
    narrow = payload.get("narrow")
    return TaskClaims(
        jti=payload["jti"], sub=sub, agent=agent, task_id=task_id, hop=hop,
        customer_token=customer, case_token=case, granted_by=GRANTED_BY,
        narrow=None if narrow is None else check_caps_shape(narrow, "narrow"),
        iat=payload["iat"], nbf=payload["nbf"], exp=payload["exp"], kid=kid,
    )
