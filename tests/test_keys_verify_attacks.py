"""The attacker's checklist (jwt_tool's playbook, RFC 8725) against KeyVerifier.

Every forged or misused key must be refused with KeyRejected carrying the membrane's code
(401 bad key, 403 wrong agent, 409 revoked) and a reason; a valid key must still verify.
"""

from __future__ import annotations

import hashlib
import hmac

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_keys_support import (
    AGENT,
    NOW,
    b64,
    b64json,
    base_claims,
    base_key,
    make_ring,
    parts,
    sign_with_ring,
    task_key,
    verifier,
)

from siloos.keys.claims import BASE_TYP, TASK_TYP
from siloos.keys.revocations import InMemoryRevocations
from siloos.keys.verify import KeyRejected, KeyVerifier


@pytest.fixture()
def ring(tmp_path):
    return make_ring(tmp_path)


def rejected(fn, token, code=401, agent=AGENT) -> str:
    with pytest.raises(KeyRejected) as info:
        fn(token, expected_agent=agent)
    assert info.value.code == code, info.value.reason
    assert info.value.reason and "\n" not in info.value.reason
    return info.value.reason


def both(v):
    return (v.verify_base, v.verify_task)


def test_valid_keys_verify(ring):
    v = verifier(ring)
    base = v.verify_base(base_key(ring), expected_agent=AGENT)
    task = v.verify_task(task_key(ring), expected_agent=AGENT)
    assert base.agent == task.agent == AGENT
    assert base.caps["refunds.issue"] == {"max_amount": 500}
    assert task.task_id == "task_0001" and task.hop == 0


# -- algorithm -------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("sig", ["", "null", "AA", "keep"])
def test_alg_none_in_every_casing(ring, alg, sig):
    header, claims, real_sig = parts(base_key(ring))
    header["alg"] = alg
    signature = real_sig if sig == "keep" else sig
    forged = f"{b64json(header)}.{b64json(claims)}.{signature}"
    reason = rejected(verifier(ring).verify_base, forged)
    assert "algorithm" in reason or "empty" in reason


@pytest.mark.parametrize("alg", ["none", "NONE"])
def test_alg_none_without_signature_part(ring, alg):
    header, claims, _ = parts(task_key(ring))
    header["alg"] = alg
    for forged in (f"{b64json(header)}.{b64json(claims)}",
                   f"{b64json(header)}.{b64json(claims)}."):
        rejected(verifier(ring).verify_task, forged)


def _hs256(header, claims, secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
    return signing_input.decode() + "." + b64(hmac.new(secret, signing_input,
                                                       hashlib.sha256).digest())


@pytest.mark.parametrize("form", ["pem", "raw", "der"])
def test_hs256_signed_with_the_public_key(ring, form):
    pub = ring.public_keys()[ring.kid]
    secret = {
        "pem": pub.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo),
        "raw": pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        "der": pub.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo),
    }[form]
    header, claims, _ = parts(base_key(ring))
    for alg in ("HS256", "hs256"):
        header["alg"] = alg
        reason = rejected(verifier(ring).verify_base, _hs256(header, claims, secret))
        assert "algorithm" in reason


def test_rs256_and_es256_tokens(ring):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    _, claims, _ = parts(task_key(ring))
    for alg, key in (("RS256", rsa_key), ("PS256", rsa_key), ("ES256", ec_key)):
        forged = jwt.encode(claims, key, algorithm=alg,
                            headers={"kid": ring.kid, "typ": TASK_TYP})
        assert "algorithm" in rejected(verifier(ring).verify_task, forged)


def test_alg_of_wrong_type(ring):
    header, claims, sig = parts(base_key(ring))
    for alg in (None, ["EdDSA"], 1, {"EdDSA": 1}, "EdDSA ", "eddsa", "Ed25519"):
        header["alg"] = alg
        rejected(verifier(ring).verify_base, f"{b64json(header)}.{b64json(claims)}.{sig}")


# -- tampering and signatures ------------------------------------------------------------

def test_tampered_claims_keep_old_signature(ring):
    header, claims, sig = parts(base_key(ring))
    for change in ({"caps": {"refunds.issue": {"max_amount": 50000}}},
                   {"agent": "manager-agent"}, {"exp": NOW + 10**8}):
        forged = f"{b64json(header)}.{b64json({**claims, **change})}.{sig}"
        assert "signature" in rejected(verifier(ring).verify_base, forged)


def test_tampered_header_keeps_old_signature(ring):
    header, claims, sig = parts(task_key(ring))
    forged = f"{b64json({**header, 'typ': BASE_TYP})}.{b64json(claims)}.{sig}"
    assert "signature" in rejected(verifier(ring).verify_base, forged)


def test_signed_by_another_key_claiming_our_kid(ring, tmp_path):
    other = make_ring(tmp_path, "other-keys")
    _header, claims, _ = parts(base_key(ring))
    forged = jwt.encode(claims, other.signing_key, algorithm="EdDSA",
                        headers={"kid": ring.kid, "typ": BASE_TYP})
    assert "signature" in rejected(verifier(ring).verify_base, forged)
    # ...and under its own kid it is simply unknown here.
    assert "unknown kid" in rejected(verifier(ring).verify_base, base_key(other))


def test_truncated_or_flipped_signature(ring):
    token = base_key(ring)
    h, p, s = token.split(".")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    for bad in (f"{h}.{p}.{s[:-4]}", f"{h}.{p}.{flipped}", f"{h}.{p}.{s}{s}"):
        rejected(verifier(ring).verify_base, bad)


# -- header key material and kid ---------------------------------------------------------

@pytest.mark.parametrize("field", ["jwk", "jku", "x5u", "x5c", "crit"])
def test_embedded_key_material_refused_even_if_signed_by_us(ring, field):
    value = {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
             "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/cert.pem",
             "x5c": ["MIIB"], "crit": ["exp"]}[field]
    _, claims = base_claims(ring)
    token = sign_with_ring(ring, claims, {"kid": ring.kid, "typ": BASE_TYP, field: value})
    reason = rejected(verifier(ring).verify_base, token)
    assert field in reason and "keyring" in reason


def test_embedded_attacker_jwk_with_attacker_signature(ring):
    attacker = Ed25519PrivateKey.generate()
    x = attacker.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    _, claims = base_claims(ring)
    for kid in (ring.kid, "attacker"):
        forged = jwt.encode(claims, attacker, algorithm="EdDSA", headers={
            "kid": kid, "typ": BASE_TYP, "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(x)}})
        rejected(verifier(ring).verify_base, forged)


def test_unknown_header_field_refused(ring):
    _, claims = base_claims(ring)
    token = sign_with_ring(ring, claims, {"kid": ring.kid, "typ": BASE_TYP, "cty": "JWT"})
    assert "header field" in rejected(verifier(ring).verify_base, token)


def test_duplicate_header_field_refused(ring):
    _header, claims, sig = parts(base_key(ring))
    raw_header = (f'{{"alg":"none","alg":"EdDSA","kid":"{ring.kid}","typ":"{BASE_TYP}"}}')
    forged = f"{b64(raw_header.encode())}.{b64json(claims)}.{sig}"
    assert "duplicate" in rejected(verifier(ring).verify_base, forged)


@pytest.mark.parametrize("kid", ["../../etc/passwd", "/dev/null", "' OR '1'='1' --",
                                 "x'; DROP TABLE revoked; --", "signing-", "*", "",
                                 "kid\x00", "ключ", "%2e%2e%2f"])
def test_odd_kids_refused(ring, kid):
    _, claims = base_claims(ring)
    token = sign_with_ring(ring, claims, {"kid": kid, "typ": BASE_TYP})
    assert "kid" in rejected(verifier(ring).verify_base, token)


@pytest.mark.parametrize("kid", [1, 0, None, True, ["x"], {"a": 1}, 1.5])
def test_non_string_or_missing_kid(ring, kid):
    header, claims, sig = parts(base_key(ring))
    header["kid"] = kid
    if kid is None:
        del header["kid"]
    forged = f"{b64json(header)}.{b64json(claims)}.{sig}"
    assert "kid" in rejected(verifier(ring).verify_base, forged)


def test_kid_map_is_fixed_at_construction(ring, tmp_path):
    keys = ring.public_keys()
    v = KeyVerifier(keys, InMemoryRevocations(), clock=lambda: NOW)
    other = make_ring(tmp_path, "later")
    keys.update(other.public_keys())  # mutating the caller's dict adds nothing
    rejected(v.verify_base, base_key(other))


# -- time ---------------------------------------------------------------------------------

def test_expired(ring):
    token = task_key(ring, wall_seconds=60)           # exp = NOW + 90
    verifier(ring, now=NOW + 89).verify_task(token, expected_agent=AGENT)
    assert "expired" in rejected(verifier(ring, now=NOW + 96).verify_task, token)


def test_leeway_boundary_on_exp(ring):
    token = task_key(ring, wall_seconds=60)           # exp = NOW + 90, leeway 5
    verifier(ring, now=NOW + 94).verify_task(token, expected_agent=AGENT)
    rejected(verifier(ring, now=NOW + 95).verify_task, token)


def test_not_yet_valid_beyond_leeway(ring):
    future = base_key(ring, now=NOW + 6)               # iat = nbf = NOW + 6
    reason = rejected(verifier(ring, now=NOW).verify_base, future)
    assert "not yet valid" in reason or "future" in reason
    verifier(ring, now=NOW).verify_base(base_key(ring, now=NOW + 5), expected_agent=AGENT)


def test_iat_in_future_alone(ring):
    header, claims = base_claims(ring, iat=NOW + 60)
    token = sign_with_ring(ring, claims, header)
    assert "iat" in rejected(verifier(ring).verify_base, token)


def test_non_integer_times(ring):
    for change in ({"exp": "9999999999"}, {"nbf": None}, {"iat": True}, {"exp": 1.8e9 + 0.5}):
        header, claims = base_claims(ring, **change)
        rejected(verifier(ring).verify_base, sign_with_ring(ring, claims, header))


def test_missing_registered_claims(ring):
    for name in ("exp", "nbf", "iat", "jti", "sub", "iss", "aud"):
        header, claims = base_claims(ring)
        del claims[name]
        assert name in rejected(verifier(ring).verify_base,
                                sign_with_ring(ring, claims, header))


def test_leeway_is_bounded(ring):
    with pytest.raises(ValueError):
        KeyVerifier(ring.public_keys(), InMemoryRevocations(), leeway=6)
    with pytest.raises(ValueError):
        KeyVerifier({}, InMemoryRevocations())


# -- iss, aud, typ -----------------------------------------------------------------------

@pytest.mark.parametrize("iss", ["silo2", "Silo", "", "https://evil.example", None])
def test_wrong_issuer(ring, iss):
    header, claims = base_claims(ring, iss=iss)
    assert "iss" in rejected(verifier(ring).verify_base, sign_with_ring(ring, claims, header))


@pytest.mark.parametrize("aud", ["silo", "silo-membrane2", ["silo-membrane"],
                                 ["silo-membrane", "other"], "", None])
def test_wrong_audience(ring, aud):
    header, claims = base_claims(ring, aud=aud)
    rejected(verifier(ring).verify_base, sign_with_ring(ring, claims, header))


def test_base_key_in_task_slot_and_back(ring):
    v = verifier(ring)
    assert "not a task key" in rejected(v.verify_task, base_key(ring))
    assert "not a base key" in rejected(v.verify_base, task_key(ring))


def test_properly_signed_typ_forgeries(ring):
    """Keys really signed by us but with the other typ: claims decide nothing by themselves."""
    v = verifier(ring)
    _, base = base_claims(ring)
    _, task, _ = parts(task_key(ring))
    # base claims under a task typ header → malformed task key
    assert "malformed task key" in rejected(
        v.verify_task, sign_with_ring(ring, base, {"kid": ring.kid, "typ": TASK_TYP}))
    # a typ *claim* changes nothing: the header says base
    assert "not a task key" in rejected(
        v.verify_task, sign_with_ring(ring, {**base, "typ": TASK_TYP},
                                      {"kid": ring.kid, "typ": BASE_TYP}))
    # task claims with base claims added, under a task header → unexpected claims
    assert "unexpected" in rejected(
        v.verify_task, sign_with_ring(ring, {**task, "caps": {"refunds.issue": {}}},
                                      {"kid": ring.kid, "typ": TASK_TYP}))
    for typ in ("JWT", "jwt", "silo-task+JWT", None, 1):
        header = {"kid": ring.kid, "typ": typ}
        rejected(v.verify_task, sign_with_ring(ring, task, header))


def test_task_key_with_wrong_granted_by_or_sub(ring):
    _, task, _ = parts(task_key(ring))
    header = {"kid": ring.kid, "typ": TASK_TYP}
    for change in ({"granted_by": "agent"}, {"sub": "task:other/0"}, {"hop": -1},
                   {"hop": "0"}, {"narrow": ["refunds.issue"]}):
        rejected(verifier(ring).verify_task, sign_with_ring(ring, {**task, **change}, header))


# -- agent and revocation ----------------------------------------------------------------

def test_another_agents_keys(ring):
    v = verifier(ring)
    assert "agent" in rejected(v.verify_base, base_key(ring, agent="manager-agent"), code=403)
    assert "agent" in rejected(v.verify_task, task_key(ring, agent="manager-agent"), code=403)


def test_pair_must_agree(ring):
    v = verifier(ring)
    base, task = v.verify_pair(base_key(ring), task_key(ring), expected_agent=AGENT)
    assert base.agent == task.agent
    long_task = task_key(ring, wall_seconds=3600)
    assert "wall time" in rejected(
        lambda t, expected_agent: v.verify_pair(base_key(ring), t,
                                                expected_agent=expected_agent), long_task)


def test_revoked_jti(ring):
    revocations = InMemoryRevocations()
    token = task_key(ring)
    v = verifier(ring, revocations)
    claims = v.verify_task(token, expected_agent=AGENT)
    revocations.revoke(claims.jti, task_id=claims.task_id, hop=claims.hop, reason="hop ended")
    assert "revoked" in rejected(v.verify_task, token, code=409)
    # a fresh task key for the next hop is unaffected
    v.verify_task(task_key(ring, hop=1), expected_agent=AGENT)


def test_revocation_store_failure_fails_closed(ring):
    class Broken:
        def is_revoked(self, jti: str) -> bool:
            raise OSError("disk gone")

    class Vague:
        def is_revoked(self, jti: str):
            return "no"

    for store in (Broken(), Vague()):
        rejected(verifier(ring, store).verify_base, base_key(ring), code=409)


# -- garbage -------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [
    None, 0, b"a.b.c", ["a", "b", "c"], "", " ", ".", "..", "...", "a.b", "a.b.c.d",
    "eyJ.eyJ.sig", "!!!.###.$$$", "ключ.ключ.ключ", "a\u0000.b.c", "😀.😀.😀",
    "e30.e30.e30", "W10.e30.AA", "bnVsbA.e30.AA", "IiI.e30.AA",
    "x" * (64 * 1024 + 1), "a." * 10000,
])
def test_garbage_refused_with_401(ring, token):
    for fn in both(verifier(ring)):
        rejected(fn, token)


def test_huge_but_well_formed_token(ring):
    header, claims = base_claims(ring, caps={f"x{i}": {} for i in range(20000)})
    token = sign_with_ring(ring, claims, header)
    assert len(token) > 64 * 1024
    assert "longer" in rejected(verifier(ring).verify_base, token)


def test_deeply_nested_header(ring):
    deep = "[" * 100000 + "]" * 100000
    token = f"{b64(deep.encode())}.e30.AA"
    rejected(verifier(ring).verify_base, token)


def test_valid_key_still_verifies_after_attacks(ring):
    v = verifier(ring)
    for junk in ("a.b.c", None, "x" * 100):
        rejected(v.verify_base, junk)
    assert v.verify_base(base_key(ring), expected_agent=AGENT).agent == AGENT
