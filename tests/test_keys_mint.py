"""Minting: exactly the claims of design §6, task keys short-lived, narrow only narrows."""

from __future__ import annotations

import pytest
from test_keys_support import AGENT, CAPS, DIGEST, LIMITS, NOW, make_ring, parts, verifier

from siloos.keys.mint import MintError, mint_base_key, mint_task_key


@pytest.fixture()
def ring(tmp_path):
    return make_ring(tmp_path)


def test_base_key_claims_exactly(ring):
    token = mint_base_key(ring, agent=AGENT, version="1.2.0", digest=DIGEST, caps=CAPS,
                          escalate_to=["human"], limits=LIMITS, ttl_seconds=3600, now=NOW)
    header, claims, _ = parts(token)
    assert header == {"alg": "EdDSA", "typ": "silo-base+jwt", "kid": ring.kid}
    assert set(claims) == {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "agent",
                           "version", "digest", "caps", "escalate_to", "limits"}
    assert claims["iss"] == "silo" and claims["aud"] == "silo-membrane"
    assert claims["sub"] == f"agent:{AGENT}@1.2.0"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 3600)
    assert claims["caps"] == CAPS and claims["limits"] == LIMITS
    assert claims["digest"] == DIGEST and claims["escalate_to"] == ["human"]


def test_task_key_claims_exactly(ring):
    minted = mint_task_key(ring, agent=AGENT, task_id="task_9", hop=2,
                           customer_token="cust_tk_abcdefghijkl", case_token="case_tk_0123456789ab",
                           wall_seconds=60, now=NOW)
    header, claims, _ = parts(minted.token)
    assert header == {"alg": "EdDSA", "typ": "silo-task+jwt", "kid": ring.kid}
    assert set(claims) == {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "agent",
                           "task_id", "hop", "customer_token", "case_token", "granted_by"}
    assert claims["sub"] == "task:task_9/2" and claims["granted_by"] == "router"
    assert claims["exp"] == minted.exp == NOW + 60 + 30
    assert claims["jti"] == minted.jti
    assert claims["exp"] - claims["iat"] <= 60 + 30


def test_jtis_are_unique(ring):
    jtis = {mint_task_key(ring, agent=AGENT, task_id="t", hop=0, customer_token=None,
                          case_token=None, wall_seconds=5).jti for _ in range(200)}
    assert len(jtis) == 200


def test_narrow_is_checked_against_caps(ring):
    caps = {"refunds.issue": {"max_amount": 500}, "orders.get": {}}
    minted = mint_task_key(ring, agent=AGENT, task_id="t", hop=0, customer_token=None,
                           case_token=None, wall_seconds=60, caps=caps, now=NOW,
                           narrow={"refunds.issue": {"max_amount": 50}})
    task = verifier(ring).verify_task(minted.token, expected_agent=AGENT)
    assert task.narrow == {"refunds.issue": {"max_amount": 50}}
    with pytest.raises(MintError, match=r"does not grant: email\.send"):
        mint_task_key(ring, agent=AGENT, task_id="t", hop=0, customer_token=None,
                      case_token=None, wall_seconds=60, caps=caps,
                      narrow={"email.send": {}})
    with pytest.raises(MintError, match="needs the base key's caps"):
        mint_task_key(ring, agent=AGENT, task_id="t", hop=0, customer_token=None,
                      case_token=None, wall_seconds=60, narrow={"orders.get": {}})
    with pytest.raises(MintError):
        mint_task_key(ring, agent=AGENT, task_id="t", hop=0, customer_token=None,
                      case_token=None, wall_seconds=60, caps=caps,
                      narrow={"orders.get": ["not", "an", "object"]})


@pytest.mark.parametrize("change", [{"wall_seconds": 0}, {"wall_seconds": -5},
                                    {"wall_seconds": True}, {"hop": -1}, {"task_id": ""},
                                    {"agent": ""}])
def test_task_key_bad_inputs(ring, change):
    args = {"agent": AGENT, "task_id": "t", "hop": 0, "customer_token": None,
            "case_token": None, "wall_seconds": 60, **change}
    with pytest.raises(MintError):
        mint_task_key(ring, **args)


@pytest.mark.parametrize("change", [{"digest": "not-a-digest"}, {"ttl_seconds": 0},
                                    {"limits": {"wall_seconds": "60"}},
                                    {"escalate_to": [1]}, {"caps": {"llm": "yes"}},
                                    {"version": ""}])
def test_base_key_bad_inputs(ring, change):
    args = {"agent": AGENT, "version": "1.0.0", "digest": DIGEST, "caps": CAPS,
            "escalate_to": [], "limits": LIMITS, **change}
    with pytest.raises(MintError):
        mint_base_key(ring, **args)
