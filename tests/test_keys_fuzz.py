"""Whatever arrives in a key slot, verification raises KeyRejected and nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_keys_support import AGENT, b64, b64json, base_key, make_ring, parts, verifier

from siloos.keys.verify import KeyRejected

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return make_ring(tmp_path_factory.mktemp("fuzz"))


def must_reject(v, token):
    for fn in (v.verify_base, v.verify_task):
        try:
            fn(token, expected_agent=AGENT)
        except KeyRejected as err:
            assert err.code in (401, 403, 409) and err.reason
        else:
            raise AssertionError(f"accepted {token!r}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-]{0,40}(\.[A-Za-z0-9_\-]{0,40}){0,4}"))
def test_arbitrary_strings(ring, text):
    must_reject(verifier(ring), text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=JSONISH, payload=JSONISH, sig=st.binary(max_size=80))
def test_arbitrary_json_segments(ring, header, payload, sig):
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(sig)}"
    must_reject(verifier(ring), token)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.dictionaries(st.text(max_size=8), JSONISH, max_size=3), data=st.data())
def test_real_header_with_mutated_claims_and_old_signature(ring, extra, data):
    header, claims, sig = parts(base_key(ring))
    mutated = {**claims, **extra}
    if mutated == claims:
        mutated["jti"] = data.draw(st.text(max_size=10))
    must_reject(verifier(ring), f"{b64json(header)}.{b64json(mutated)}.{sig}")
