"""Tokenizer: free text, records, hydration, scope refusals, canary properties."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siloos.errors import SiloError
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.tokens import find_tokens, is_token
from siloos.privacy.vault import TokenOutOfScope, Vault, create_vault_keys

RECORD = {
    "id": "CUST-7781",
    "name": "Marguerite Okonkwo-Baptiste",
    "email": "m.okonkwo@canary-mail.example",
    "phone": "+61 491 570 159",
    "address": "17 Wattlebird Crescent, Ballarat VIC 3350",
    "dob": "1981-02-17",
}
SCHEMA = {"id": "cust", "name": "name", "email": "email", "phone": "phone",
          "address": "addr", "dob": "dob"}
# Canary spellings that must never survive tokenization.
CANARY_SPELLINGS = [
    "Marguerite Okonkwo-Baptiste", "marguerite okonkwo-baptiste", "Okonkwo-Baptiste",
    "m.okonkwo@canary-mail.example", "M.OKONKWO@CANARY-MAIL.EXAMPLE",
    "+61 491 570 159", "0491 570 159", "0491-570-159", "+61491570159", "(04) 9157 0159",
    "17 Wattlebird Crescent, Ballarat VIC 3350", "17 wattlebird crescent ballarat vic 3350",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
    "CUST-7781",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tokenizer, str, str, sqlite3.Connection]:
    base = tmp_path_factory.mktemp("tok")
    create_vault_keys(base / "keys")
    conn = sqlite3.connect(base / "state.db", check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    tokenizer = Tokenizer(Vault(conn, base / "keys"))
    scope = tokenizer.vault.scope_for("CUST-7781")
    other = tokenizer.vault.scope_for("CUST-0001")
    tokenizer.load_known(RECORD, SCHEMA, scope)
    tokenizer.vault.tokenize("4111 1111 1111 1111", "card", scope)
    return tokenizer, scope, other, conn


def test_load_known_returns_tokens(env) -> None:
    tokenizer, scope, _, _ = env
    loaded = tokenizer.load_known(RECORD, SCHEMA, scope)
    assert set(loaded) == set(SCHEMA)
    assert all(is_token(t) for t in loaded.values())
    assert loaded["phone"].startswith("phone_tk_")


def test_free_text_catches_known_values_in_other_spellings(env) -> None:
    tokenizer, scope, _, _ = env
    message = (
        "Hi, this is marguerite okonkwo-baptiste. Reach me on 0491-570-159 or (04) 9157 0159, "
        "M.OKONKWO@CANARY-MAIL.EXAMPLE. Ship to 17 wattlebird crescent ballarat vic 3350. "
        "Card 4111-1111-1111-1111. My account is CUST-7781. Okonkwo-Baptiste out."
    )
    out = tokenizer.tokenize_text(message, scope)
    for canary in CANARY_SPELLINGS:
        assert canary.lower() not in out.lower(), canary
    phone_tokens = {t for t in find_tokens(out) if t.startswith("phone_")}
    assert len(phone_tokens) == 1  # every spelling maps to the customer's one phone token
    assert "Hi, this is name_tk_" in out


def test_other_scope_gets_other_tokens_and_no_known_matching(env) -> None:
    tokenizer, scope, other, _ = env
    mine = tokenizer.tokenize_text("mail m.okonkwo@canary-mail.example", scope)
    theirs = tokenizer.tokenize_text("mail m.okonkwo@canary-mail.example", other)
    assert mine != theirs
    # the other customer's known values do not leak into this scope's matching
    assert tokenizer.tokenize_text("Okonkwo-Baptiste", other) == "Okonkwo-Baptiste"


def test_resolve_round_trip_and_scope_refusal(env) -> None:
    tokenizer, scope, other, _ = env
    out = tokenizer.tokenize_any({"msg": "call 0491 570 159", "n": 5, "k": None}, scope)
    token = next(iter(find_tokens(out)))
    back = tokenizer.resolve_tokens(out, scope)
    assert back == {"msg": "call +61 491 570 159", "n": 5, "k": None}
    with pytest.raises(TokenOutOfScope):
        tokenizer.resolve_tokens(out, other)
    with pytest.raises(TokenOutOfScope):
        tokenizer.resolve_tokens({"to": token.upper()}, scope)
    with pytest.raises(TokenOutOfScope):
        tokenizer.resolve_tokens(["see " + token.replace("_tk_", "-tk-")], scope)


def test_resolve_only_some_types(env) -> None:
    tokenizer, scope, other, _ = env
    loaded = tokenizer.load_known(RECORD, SCHEMA, scope)
    args = {"to": loaded["email"], "body": f"Dear {loaded['name']}"}
    out = tokenizer.resolve_tokens(args, scope, only={"email"})
    assert out == {"to": RECORD["email"], "body": f"Dear {loaded['name']}"}
    foreign = tokenizer.vault.tokenize("x@y.example", "email", other)
    with pytest.raises(TokenOutOfScope):
        tokenizer.resolve_tokens({"to": foreign}, scope, only={"name"})


def test_tokenize_record_schema(env) -> None:
    tokenizer, scope, _, _ = env
    result = {
        "orders": [
            {"order": 1001, "item": "kettle", "amount": 49.99, "note": "call 0491 570 159"},
            {"order": "1002", "item": "toaster", "amount": 20, "note": None},
        ],
        "customer": {"customer": "CUST-7781", "email": None, "tags": ["vip"]},
    }
    pii = {"order": "ord", "customer": "cust", "email": "email"}
    out = tokenizer.tokenize_record(result, pii, scope)
    assert out["orders"][0]["order"].startswith("ord_tk_")
    assert out["orders"][1]["order"].startswith("ord_tk_")
    assert out["orders"][0]["amount"] == 49.99 and out["orders"][0]["item"] == "kettle"
    assert out["orders"][0]["note"].startswith("call phone_tk_")
    assert out["orders"][1]["note"] is None
    assert out["customer"]["email"] is None
    assert out["customer"]["tags"] == ["vip"]
    assert tokenizer.resolve_tokens(out["orders"][0]["order"], scope) == "1001"
    # tokenizing again changes nothing
    assert tokenizer.tokenize_record(out, pii, scope) == out
    with pytest.raises(SiloError, match="unknown PII type"):
        tokenizer.tokenize_record(result, {"order": "passport"}, scope)


def test_existing_tokens_untouched(env) -> None:
    tokenizer, scope, _, _ = env
    token = tokenizer.vault.tokenize("4111111111111111", "card", scope)
    text = f"card {token} and phone_tk_4111111111111111"
    assert tokenizer.tokenize_text(text, scope) == text


def test_no_plaintext_in_state_db_after_scanning(env, tmp_path: Path) -> None:
    tokenizer, scope, _, conn = env
    tokenizer.tokenize_text("card 4111 1111 1111 1111, ssn 078-05-1120, ip 10.1.2.3", scope)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(conn.execute("PRAGMA database_list").fetchone()[2])
    raw = path.read_bytes()
    for needle in [*CANARY_SPELLINGS, "078-05-1120", "10.1.2.3", "1981-02-17"]:
        assert needle.encode() not in raw, needle
        assert needle.lower().encode() not in raw


SUPPRESS = [HealthCheck.function_scoped_fixture]
text_pieces = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*CANARY_SPELLINGS, "49.99", "2024-01-15", "born 1981-02-17", " ", "\n",
                                        "order 12345", "a@b.example", "+44 20 7946 0958",
                                        "DE89 3704 0044 0532 0130 00", "::1", "078-05-1120"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=SUPPRESS)
@given(st.lists(text_pieces, max_size=8).map(" ".join))
def test_property_never_raises_idempotent_no_canary(env, text: str) -> None:
    tokenizer, scope, _, _ = env
    once = tokenizer.tokenize_text(text, scope)
    assert tokenizer.tokenize_text(once, scope) == once
    for canary in CANARY_SPELLINGS:
        if canary in text:
            assert canary not in once, (canary, once)


@settings(max_examples=100, deadline=None, suppress_health_check=SUPPRESS)
@given(st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from(CANARY_SPELLINGS)),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
))
def test_property_tokenize_any_round_trips_structure(env, obj) -> None:
    tokenizer, scope, _, _ = env
    out = tokenizer.tokenize_any(obj, scope)
    assert tokenizer.tokenize_any(out, scope) == out
    # resolving is always possible in-scope and never raises for our own tokens
    tokenizer.resolve_tokens(out, scope)
