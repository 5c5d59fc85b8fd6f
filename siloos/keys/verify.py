"""The verifier the membrane calls for every request's two keys (design §5, §6).

Owns `KeyVerifier` (fixed kid map, revocation check, leeway ≤ 5 s, injectable clock) and
`KeyRejected`, the one exception verification ever raises, carrying the membrane's code
(401 bad key, 403 wrong agent, 409 revoked) and a reason. The checks themselves are the
policy objects of `siloos.keys.policy`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from siloos.keys.claims import TASK_TYP, BaseClaims, TaskClaims
from siloos.keys.mint import TASK_GRACE_SECONDS
from siloos.keys.policy import (
    FORBIDDEN,
    MAX_LEEWAY_SECONDS,
    UNAUTHORIZED,
    CheckContext,
    Fail,
    Policy,
    base_key_policy,
    task_key_policy,
)
from siloos.keys.revocations import RevocationCheck


class KeyRejected(Exception):
    """A key was refused; `code` is the membrane's error code, `reason` one line."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class KeyVerifier:
    """Verifies base and task keys against a fixed kid → Ed25519 public key map."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey],
                 revocations: RevocationCheck, leeway: int = MAX_LEEWAY_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        if not public_keys:
            raise ValueError("a KeyVerifier needs at least one public key")
        for kid, key in public_keys.items():
            if not isinstance(kid, str) or not isinstance(key, Ed25519PublicKey):
                raise ValueError("public_keys must map str kids to Ed25519 public keys")
        if not isinstance(leeway, int) or isinstance(leeway, bool) \
                or not 0 <= leeway <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be 0..{MAX_LEEWAY_SECONDS} seconds")
        # Copied so that nobody can add a key to the map after construction.
        self._keys: dict[str, Ed25519PublicKey] = dict(public_keys)
        self._revocations = revocations
        self._leeway = leeway
        self._clock = clock
        self._base_policy = base_key_policy()
        self._task_policy = task_key_policy()

    def _run(self, policy: Policy, token: object, expected_agent: str) -> CheckContext:
        ctx = CheckContext(token=token, public_keys=self._keys, revocations=self._revocations,
                           now=self._clock(), leeway=self._leeway,
                           expected_agent=expected_agent)
        outcome = policy.verify(ctx)
        if isinstance(outcome, Fail):
            raise KeyRejected(outcome.code, outcome.reason)
        return ctx

    def verify_base(self, token: object, *, expected_agent: str) -> BaseClaims:
        """The base key's claims, or KeyRejected."""
        ctx = self._run(self._base_policy, token, expected_agent)
        if not isinstance(ctx.claims, BaseClaims):
            raise KeyRejected(UNAUTHORIZED, "not a base key")
        return ctx.claims

    def verify_task(self, token: object, *, expected_agent: str) -> TaskClaims:
        """The task key's claims, or KeyRejected."""
        ctx = self._run(self._task_policy, token, expected_agent)
        if not isinstance(ctx.claims, TaskClaims) or ctx.header is None \
                or ctx.header.get("typ") != TASK_TYP:
            raise KeyRejected(UNAUTHORIZED, "not a task key")
        return ctx.claims

    def verify_pair(self, base_token: object, task_token: object, *,
                    expected_agent: str) -> tuple[BaseClaims, TaskClaims]:
        """Both keys of one request, plus the rules that tie them together: the same agent,
        and a task key living no longer than the base key's wall time + 30 s."""
        base = self.verify_base(base_token, expected_agent=expected_agent)
        task = self.verify_task(task_token, expected_agent=expected_agent)
        if base.agent != task.agent:
            raise KeyRejected(FORBIDDEN, "base key and task key are for different agents")
        wall = base.limits.get("wall_seconds")
        if isinstance(wall, int) and task.exp - task.iat > wall + TASK_GRACE_SECONDS:
            raise KeyRejected(UNAUTHORIZED, "task key outlives the agent's wall time + 30 s")
        return base, task
