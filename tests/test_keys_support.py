"""Shared helpers for the keys tests: a keyring, a verifier with a fixed clock, forgers.

Imported by the other test_keys_* modules; holds no tests itself.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from siloos.keys.keyring import KeyRing, create_keyring
from siloos.keys.mint import mint_base_key, mint_task_key
from siloos.keys.revocations import InMemoryRevocations
from siloos.keys.verify import KeyVerifier

NOW = 1_800_000_000
AGENT = "refund-agent"
DIGEST = "ab" * 32
CAPS = {"llm": {}, "orders.get": {}, "refunds.issue": {"max_amount": 500},
        "email.send": {"templates": ["refund-confirmation", "refund-denied"]}}
LIMITS = {"wall_seconds": 60, "memory_mb": 256, "pids": 32, "tmp_mb": 16, "tool_calls": 50,
          "llm_calls": 20, "llm_tokens": 200000}


def make_ring(tmp_path: Path, name: str = "keys") -> KeyRing:
    create_keyring(tmp_path / name)
    return KeyRing.load(tmp_path / name)


def verifier(ring: KeyRing, revocations: Any = None, now: float = NOW) -> KeyVerifier:
    return KeyVerifier(ring.public_keys(), revocations or InMemoryRevocations(),
                       clock=lambda: now)


def base_key(ring: KeyRing, *, agent: str = AGENT, now: float = NOW, **kw: Any) -> str:
    args: dict[str, Any] = {"version": "1.0.0", "digest": DIGEST, "caps": CAPS,
                            "escalate_to": ["manager-agent", "human"], "limits": LIMITS}
    args.update(kw)
    return mint_base_key(ring, agent=agent, now=now, **args)


def task_key(ring: KeyRing, *, agent: str = AGENT, now: float = NOW, **kw: Any) -> str:
    args: dict[str, Any] = {"task_id": "task_0001", "hop": 0,
                            "customer_token": "cust_tk_abcdefghijkl", "case_token": None,
                            "wall_seconds": 60}
    args.update(kw)
    return mint_task_key(ring, agent=agent, now=now, **args).token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(h))),
            json.loads(base64.urlsafe_b64decode(pad(p))), s)


def sign_with_ring(ring: KeyRing, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token really signed by the workspace key, with any header and claims we like
    (what a bug in the router, not an attacker, could produce)."""
    full_header = {"alg": "EdDSA", **header}
    signing_input = f"{b64json(full_header)}.{b64json(claims)}"
    return f"{signing_input}.{b64(ring.signing_key.sign(signing_input.encode()))}"


def base_claims(ring: KeyRing, **override: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = parts(base_key(ring))
    claims.update(override)
    return header, claims
