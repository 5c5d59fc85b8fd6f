"""Where text came from decides whether its values are stored (`mint`), and what dict keys
and integers become (review findings 4 and 6)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.tokens import find_tokens, is_token
from siloos.privacy.vault import TokenOutOfScope, Vault, create_vault_keys

RECORD = {"name": "Odile Brackenridge", "email": "odile.b@known-mail.example",
          "phone": "0491 570 159", "card": "4111 1111 1111 1111"}
SCHEMA = {"name": "name", "email": "email", "phone": "phone", "card": "card"}
STRANGER = "mallory.exfil@evil.example"


@pytest.fixture()
def env(tmp_path: Path) -> tuple[Tokenizer, str, sqlite3.Connection]:
    create_vault_keys(tmp_path / "keys")
    conn = sqlite3.connect(":memory:")
    tokenizer = Tokenizer(Vault(conn, tmp_path / "keys"))
    scope = tokenizer.vault.scope_for("cust-1")
    tokenizer.load_known(RECORD, SCHEMA, scope)
    return tokenizer, scope, conn


def rows(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM vault_entries").fetchone()[0]


# ---------------------------------------------------------------- mint=False


def test_unminted_values_read_the_same_but_are_never_stored(env) -> None:
    tokenizer, scope, conn = env
    before, version = rows(conn), tokenizer.vault.known_version(scope)
    junk = " ".join(f"user{i}@junk{i}.example" for i in range(50))
    first = tokenizer.tokenize_text(f"write to {STRANGER}. {junk}", scope, mint=False)
    again = tokenizer.tokenize_text(f"again: {STRANGER}", scope, mint=False)
    assert rows(conn) == before and tokenizer.vault.known_version(scope) == version
    assert STRANGER not in first and "junk7" not in first
    token = tokenizer.vault.token_for(STRANGER, "email", scope)
    assert token in first and token in again  # consistent within the scope
    assert len(find_tokens(first)) == 51
    with pytest.raises(TokenOutOfScope):
        tokenizer.resolve_tokens(first, scope)
    with pytest.raises(TokenOutOfScope):
        tokenizer.vault.resolve(token, scope)
    assert not tokenizer.vault.in_scope(token, scope)
    assert all(value != STRANGER for value, _, _ in tokenizer.vault.known_values(scope))


def test_unminted_tokens_differ_across_scopes(env) -> None:
    tokenizer, scope, _ = env
    other = tokenizer.vault.scope_for("cust-2")
    mine = tokenizer.tokenize_text(STRANGER, scope, mint=False)
    theirs = tokenizer.tokenize_text(STRANGER, other, mint=False)
    assert is_token(mine) and is_token(theirs) and mine != theirs


def test_known_values_keep_their_stored_token_without_minting(env) -> None:
    tokenizer, scope, conn = env
    minted = tokenizer.load_known(RECORD, SCHEMA, scope)
    before = rows(conn)
    text = ("I am odile brackenridge, ODILE.B@KNOWN-MAIL.EXAMPLE, call 0491-570-159 "
            "or +61 491 570 159; card 4111-1111-1111-1111")
    out = tokenizer.tokenize_text(text, scope, mint=False)
    assert rows(conn) == before
    for field in SCHEMA:
        assert minted[field] in out, field
    back = tokenizer.resolve_tokens(out, scope)  # every token here is stored: hydratable
    assert "odile.b@known-mail.example" in back.lower()


def test_an_unminted_value_is_the_token_the_system_of_record_would_mint(env) -> None:
    tokenizer, scope, _ = env
    unminted = tokenizer.tokenize_text(STRANGER, scope, mint=False)
    # Later the back office itself records the address: the same token, now stored.
    assert tokenizer.tokenize_text(STRANGER, scope) == unminted
    assert tokenizer.vault.resolve(unminted, scope) == STRANGER


def test_tokenize_any_without_minting_covers_keys_and_values(env) -> None:
    tokenizer, scope, conn = env
    before = rows(conn)
    out = tokenizer.tokenize_any(
        {"note": f"prefers {STRANGER}", STRANGER: [f"cc {STRANGER}", 7]}, scope, mint=False)
    token = tokenizer.vault.token_for(STRANGER, "email", scope)
    assert out == {"note": f"prefers {token}", token: [f"cc {token}", 7]}
    assert rows(conn) == before


# ---------------------------------------------------------------- minting in one batch


def test_minting_stores_every_new_value_once_in_one_batch(env) -> None:
    tokenizer, scope, conn = env
    before = rows(conn)
    emails = [f"person{i}@batch.example" for i in range(30)]
    out = tokenizer.tokenize_text(" and ".join(emails + emails[:5]), scope)
    assert rows(conn) == before + 30
    assert not conn.in_transaction  # committed: another connection would see the rows
    back = tokenizer.resolve_tokens(out, scope)
    assert back == " and ".join(emails + emails[:5])


def test_batch_minting_matches_one_at_a_time(env) -> None:
    tokenizer, scope, _ = env
    vault = tokenizer.vault
    items = [("a@one.example", "email"), ("0412 345 678", "phone"), ("a@one.example", "email"),
             ("A@ONE.example", "email")]
    tokens = vault.tokenize_many(items, scope)
    assert tokens == [vault.token_for(v, k, scope) for v, k in items]
    assert tokens[0] == tokens[2] == tokens[3]
    assert [vault.tokenize(v, k, scope) for v, k in items] == tokens
    assert vault.resolve(tokens[1], scope) == "0412 345 678"


def test_batch_minting_leaves_a_callers_transaction_open(env) -> None:
    tokenizer, scope, conn = env
    conn.execute("BEGIN")
    tokenizer.vault.tokenize_many([("b@two.example", "email")], scope)
    assert conn.in_transaction
    conn.rollback()


# ---------------------------------------------------------------- dict keys


def test_keys_of_a_result_are_scanned(env) -> None:
    tokenizer, scope, _ = env
    out = tokenizer.tokenize_any({"by_address": {RECORD["email"]: "primary",
                                                 "Odile Brackenridge": {"since": 2019}}}, scope)
    keys = list(out["by_address"])
    assert keys == [tokenizer.vault.token_for(RECORD["email"], "email", scope),
                    tokenizer.load_known(RECORD, SCHEMA, scope)["name"]]
    assert out["by_address"][keys[0]] == "primary"


def test_keys_that_collapse_to_one_token_are_all_kept_in_order(env) -> None:
    tokenizer, scope, _ = env
    token = tokenizer.vault.token_for(STRANGER, "email", scope)
    out = tokenizer.tokenize_any(
        {STRANGER: 1, STRANGER.upper(): 2, f"{token}#2": 3, STRANGER.title(): 4}, scope)
    assert out == {token: 1, f"{token}#2": 2, f"{token}#2#2": 3, f"{token}#3": 4}


def test_record_keys_are_scanned_after_the_schema_is_applied(env) -> None:
    tokenizer, scope, _ = env
    out = tokenizer.tokenize_record(
        {"email": RECORD["email"], "aliases": {STRANGER: "old"}}, {"email": "email"}, scope)
    assert is_token(out["email"])
    assert list(out["aliases"]) == [tokenizer.vault.token_for(STRANGER, "email", scope)]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([STRANGER, STRANGER.upper(), "plain", "Plain", "x@y.example",
                                 "X@Y.EXAMPLE", "0412 345 678", "0412-345-678"]),
                max_size=8, unique=True))
def test_no_entry_is_ever_dropped(env, keys: list[str]) -> None:
    tokenizer, scope, _ = env
    original = {key: n for n, key in enumerate(keys)}
    out = tokenizer.tokenize_any(original, scope, mint=False)
    assert sorted(out.values()) == sorted(original.values())
    assert not any(key in str(list(out)) for key in keys if "@" in key or "04" in key)


# ---------------------------------------------------------------- integers


def test_an_integer_that_is_a_known_value_becomes_its_token(env) -> None:
    tokenizer, scope, _ = env
    known = tokenizer.load_known(RECORD, SCHEMA, scope)
    out = tokenizer.tokenize_any(
        {"mobile": 491570159, "intl": 61491570159, "card": 4111111111111111,
         "neg": -491570159, "count": 491570158, "small": 42, "flag": True, "amount": 491570159.0,
         491570159: "keyed by the phone"}, scope)
    assert out["mobile"] == out["intl"] == known["phone"]
    assert out["card"] == known["card"]
    assert out["count"] == 491570158 and out["small"] == 42 and out["flag"] is True
    assert out["amount"] == 491570159.0  # floats are amounts
    assert out[known["phone"]] == "keyed by the phone"
    assert out["neg"] == -491570159


def test_integers_in_records_are_checked_too(env) -> None:
    tokenizer, scope, _ = env
    known = tokenizer.load_known(RECORD, SCHEMA, scope)
    out = tokenizer.tokenize_record({"contact": {"number": 491570159}, "qty": 3}, {}, scope)
    assert out == {"contact": {"number": known["phone"]}, "qty": 3}
