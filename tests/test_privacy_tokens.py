"""Token format, registry, finding tokens in JSON, near-miss detection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import tokens
from siloos.privacy.tokens import (
    find_near_misses,
    find_tokens,
    is_token,
    looks_like_token,
    make_token,
    register_token_type,
    token_kind,
)

GOOD = "email_tk_9f2c81d0a7b4"


def test_is_token() -> None:
    assert is_token(GOOD)
    assert is_token("ord_tk_1b2c3d4e5f60abcd")
    for bad in [
        "email_tk_9f2c81d0a7b",  # 11 chars
        "EMAIL_TK_9F2C81D0A7B4",
        "email-tk-9f2c81d0a7b4",
        "emial_tk_9f2c81d0a7b4",
        "email_tk_9f2c81d0a7b4!x",
        " email_tk_9f2c81d0a7b4",
        "xemail_tk_9f2c81d0a7b4",
        "email_tk_9f2c81d0a7B4",
        42,
        None,
    ]:
        assert not is_token(bad), bad
    assert token_kind(GOOD) == "email"


def test_make_token_validates() -> None:
    assert make_token("phone", "abcdefghijkl") == "phone_tk_abcdefghijkl"
    with pytest.raises(ValueError):
        make_token("phone", "short")
    with pytest.raises(ValueError):
        make_token("passport", "abcdefghijkl")
    with pytest.raises(ValueError):
        make_token("phone", "ABCDEFGHIJKL")


def test_find_tokens_nested() -> None:
    other = "phone_tk_0123456789ab"
    obj = {
        "a": [GOOD, {"b": f"write to {other}, please"}],
        "n": 3,
        "t": ("cust_tk_aaaaaaaaaaaa",),
        "not": "email_tk_short",
        "x": None,
    }
    assert find_tokens(obj) == {GOOD, other, "cust_tk_aaaaaaaaaaaa"}
    assert find_tokens({"key " + GOOD: 1}) == {GOOD}


def test_find_tokens_deep_nesting_does_not_recurse() -> None:
    obj: object = GOOD
    for _ in range(5000):
        obj = [obj]
    assert find_tokens(obj) == {GOOD}


@pytest.mark.parametrize(
    "text",
    [
        "EMAIL_TK_9F2C81D0A7B4",
        "Email_Tk_9f2c81d0a7b4",
        "email-tk-9f2c81d0a7b4",
        "email tk 9f2c81d0a7b4",
        "email_tk_9f2c",
        "emial_tk_9f2c81d0a7b4",
        "passport_tk_9f2c81d0a7b4",
        "send to email_tk_9f2c81d0a7B4 now",
        "foo_email_tk_9f2c81d0a7b4",
    ],
)
def test_near_misses_detected(text: str) -> None:
    assert looks_like_token(text)
    assert looks_like_token({"args": [text]})


@pytest.mark.parametrize(
    "text",
    [GOOD, f"send to {GOOD}.", "refund 49.99 for a damaged kettle", "walk to the park", ""],
)
def test_not_near_misses(text: str) -> None:
    assert not find_near_misses(text)


def test_register_token_type() -> None:
    register_token_type("passport")
    try:
        assert is_token("passport_tk_abcdefghijkl")
        assert "passport" in tokens.token_types()
        register_token_type("passport")  # idempotent
    finally:
        tokens._types.remove("passport")
        tokens.TOKEN_RE = tokens._compile(tokens._types)
    with pytest.raises(ValueError):
        register_token_type("Bad_Type")


def test_a_registered_type_is_seen_by_the_vault_and_the_membrane_alike(tmp_path) -> None:
    # The pattern callers use is the live one: registering a type after import does not
    # leave the vault (or the membrane's substitution) with a stale pattern.
    import sqlite3

    from siloos.membrane.actions import substitute
    from siloos.privacy.keyfiles import create_vault_keys
    from siloos.privacy.tokens import token_pattern
    from siloos.privacy.vault import Vault

    register_token_type("acctno")
    assert token_pattern().fullmatch("acctno_tk_0123456789ab")
    keys = tmp_path / "keys"
    create_vault_keys(keys)
    vault = Vault(sqlite3.connect(":memory:"), keys)
    scope = vault.scope_for("C-1")
    token = vault.tokenize("ACCT-99", "acctno", scope)
    assert vault.resolve(token, scope) == "ACCT-99"
    assert substitute(f"see {token}", {token: "ACCT-99"}) == "see ACCT-99"


def _near_misses_without_the_whole_token_shortcut(text: str) -> set[str]:
    """find_near_misses as it was before whole tokens were skipped (the reference)."""
    pattern = tokens.token_pattern()
    found: set[str] = set()
    if "tk" not in text.lower():
        return found
    for match in tokens._NEAR_MISS_RE.finditer(text):
        exact = pattern.match(text, match.start())
        if exact is None or exact.end() < match.end():
            found.add(match.group(0))
    return found


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["email", "ord", "cust", "EMAIL", "tk", "TK", "_", "-", ".",
                                 " ", ":", "abc", "0", "9z", "x" * 12, "a1b2c3d4e5f6",
                                 "tkq", "_tk_"]), max_size=12).map("".join))
def test_skipping_whole_tokens_finds_the_same_near_misses(text: str) -> None:
    assert tokens.find_near_misses(text) == _near_misses_without_the_whole_token_shortcut(text)
