"""The policy machinery: §5 order, empty policies refused, crashing steps fail closed."""

from __future__ import annotations

import pytest
from test_keys_support import AGENT, NOW, b64json, base_claims, make_ring, sign_with_ring

from siloos.keys.claims import BASE_TYP
from siloos.keys.policy import (
    AlgorithmIsEdDSA,
    CheckContext,
    Fail,
    IssuerAudience,
    KnownKid,
    NoEmbeddedKeys,
    Ok,
    Policy,
    WellFormed,
    base_key_policy,
    task_key_policy,
)
from siloos.keys.revocations import InMemoryRevocations


def ctx(ring, token, agent=AGENT, now=NOW):
    return CheckContext(token=token, public_keys=ring.public_keys(),
                        revocations=InMemoryRevocations(), now=now, leeway=5,
                        expected_agent=agent)


@pytest.fixture()
def ring(tmp_path):
    return make_ring(tmp_path)


def test_empty_policy_is_refused():
    with pytest.raises(ValueError, match="at least one step"):
        Policy([])


def test_step_order_follows_design_section_5():
    names = [s.name for s in base_key_policy().steps]
    assert names == ["well-formed", "algorithm", "no-embedded-keys", "header-fields", "kid",
                     "signature", "time", "issuer-audience", "typ=silo-base+jwt",
                     "base-claims", "agent", "not-revoked"]
    assert "typ=silo-task+jwt" in [s.name for s in task_key_policy().steps]


def test_first_failure_wins(ring):
    # bad algorithm, unknown kid, expired, wrong agent: the algorithm is reported
    header, claims = base_claims(ring, exp=NOW - 1000, agent="other")
    token = f"{b64json({**header, 'alg': 'HS256', 'kid': 'nope'})}.{b64json(claims)}.AA"
    outcome = base_key_policy().verify(ctx(ring, token))
    assert isinstance(outcome, Fail) and "algorithm" in outcome.reason
    # properly signed but expired and for another agent: expiry comes first
    header, claims = base_claims(ring, exp=NOW - 1000, agent="other")
    outcome = base_key_policy().verify(ctx(ring, sign_with_ring(ring, claims, header)))
    assert isinstance(outcome, Fail) and "expired" in outcome.reason


def test_crashing_step_fails_closed(ring):
    class Explodes:
        name = "explodes"

        def verify(self, c):
            raise RuntimeError("boom")

    class Shrugs:
        name = "shrugs"

        def verify(self, c):
            return None

    for step in (Explodes(), Shrugs()):
        outcome = Policy([WellFormed(), step]).verify(ctx(ring, "a.b.c"))
        assert isinstance(outcome, Fail) and outcome.code == 401


def test_steps_alone(ring):
    c = ctx(ring, "not a jwt")
    assert isinstance(WellFormed().verify(c), Fail)
    header, claims = base_claims(ring)
    good = sign_with_ring(ring, claims, header)
    c = ctx(ring, good)
    assert isinstance(WellFormed().verify(c), Ok)
    assert isinstance(AlgorithmIsEdDSA().verify(c), Ok)
    assert isinstance(KnownKid().verify(c), Ok) and c.public_key is not None
    assert isinstance(base_key_policy().verify(ctx(ring, good)), Ok)
    assert not Fail(401, "x") and Ok()
    assert header["typ"] == BASE_TYP


def test_issuer_audience_step_alone(ring):
    """pyjwt checks iss/aud too; this step must hold on its own (exact string, no lists)."""
    good = {"iss": "silo", "aud": "silo-membrane"}
    for payload, ok in ((good, True), ({**good, "aud": ["silo-membrane"]}, False),
                        ({**good, "iss": "Silo"}, False), ({"aud": "silo-membrane"}, False),
                        ({}, False)):
        c = ctx(ring, "x")
        c.payload = payload
        assert isinstance(IssuerAudience().verify(c), Ok) is ok


def test_no_embedded_keys_step_alone(ring):
    for field in ("jwk", "jku", "x5u", "x5c", "x5t", "crit"):
        c = ctx(ring, "x")
        c.header = {"alg": "EdDSA", "kid": ring.kid, field: "x"}
        outcome = NoEmbeddedKeys().verify(c)
        assert isinstance(outcome, Fail) and field in outcome.reason
    c.header = {"alg": "EdDSA", "kid": ring.kid, "typ": BASE_TYP}
    assert isinstance(NoEmbeddedKeys().verify(c), Ok)
