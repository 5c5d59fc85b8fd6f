"""Review of the KnownVersions memo check and the orjson fast path (second session).

- A tokenized exit result is remembered only under the scope's version it was actually
  made with: a value added to the scope while the result was being tokenized (by another
  connection, or another thread of this process, while this request minted) must be
  found in the next identical result, not hidden behind a version that already counts it.
- The fast JSON path encodes only exact JSON types: orjson natively writes enums, UUIDs
  and `orjson.Fragment`, which the standard encoder refuses, so those must still be
  refused (an enum's value is never tokenized, and was never sent).
"""

from __future__ import annotations

import enum
import math
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_membrane_support import Hop

from siloos.membrane.memo import TokenizedResults
from siloos.privacy.vault import Vault
from siloos.store.encoding import _CANONICAL, _COMPACT, compact, dumps

LATE_NAME = "Perpetua Quillfeather"


def _add_while_tokenizing(hop: Hop, monkeypatch, add) -> None:
    """Make the next tokenizing of an exit result run `add()` right after it read the
    scope's known values (a commit landing while the request tokenizes)."""
    real = hop.tokenizer.tokenize_any
    done = []

    def tokenize_any(obj: Any, scope: str, *, mint: bool = True) -> Any:
        answer = real(obj, scope, mint=mint)
        if not done:
            done.append(add())
        return answer

    monkeypatch.setattr(hop.tokenizer, "tokenize_any", tokenize_any)


@pytest.fixture
def hop(say_hop: Hop) -> Hop:
    """This module's hop: one whose membrane also serves `test.say`."""
    return say_hop


def test_a_value_another_connection_adds_while_a_result_mints_is_found_next(
        hop, monkeypatch) -> None:
    # The result mints an email (this process's vault inserts) while another connection,
    # as another process would, adds a name the result also holds.
    text = f"{LATE_NAME} wrote from quillfeather.p@example.org"

    def add() -> str:
        conn = sqlite3.connect(hop.store.path, isolation_level=None)
        try:
            return Vault(conn, Path(hop.root / ".silo" / "keys")).tokenize(
                LATE_NAME, "name", hop.scope)
        finally:
            conn.close()

    _add_while_tokenizing(hop, monkeypatch, add)
    first = hop.call("test.say", 1, text=text)["result"]["said"]
    assert "example.org" not in first
    token = hop.vault.token_for(LATE_NAME, "name", hop.scope)
    again = hop.call("test.say", 2, text=text)["result"]["said"]
    assert LATE_NAME not in again and token in again


def test_a_value_this_process_adds_while_a_result_is_tokenized_is_found_next(
        hop, monkeypatch) -> None:
    # Another thread of this process (same vault object) adds a value mid-tokenizing.
    text = f"ask {LATE_NAME} about it"
    _add_while_tokenizing(hop, monkeypatch,
                          lambda: hop.vault.tokenize(LATE_NAME, "name", hop.scope))
    assert hop.call("test.say", 1, text=text)["result"] == {"said": text}
    token = hop.vault.token_for(LATE_NAME, "name", hop.scope)
    assert hop.call("test.say", 2, text=text)["result"] == {"said": f"ask {token} about it"}


def test_an_answer_made_while_the_version_moved_is_not_kept() -> None:
    memo = TokenizedResults()
    before, after = ("s", "t", (3, 9), None), ("s", "t", (4, 12), None)
    assert memo.get("k", before) is None
    memo.put("k", after, {"v": 1})  # made under `before`, stamped `after`: not kept
    assert memo.get("k", after) is None
    assert memo.get("k", after) is None
    memo.put("k", after, {"v": 2})  # asked and made under the same stamp: kept
    assert memo.get("k", after) == {"v": 2}


class Secret(enum.Enum):
    MAIL = "perpetua.q@example.org"


class Amount(enum.Enum):
    ONE = 1.5


@pytest.mark.parametrize("value", [
    Secret.MAIL, {"k": Secret.MAIL}, [1, Amount.ONE], uuid.UUID(int=7),
    {"id": uuid.UUID(int=7)}, orjson.Fragment(b'{"raw":1}'), {"f": orjson.Fragment(b"1")},
])
def test_what_the_standard_encoder_refuses_the_fast_path_refuses(value) -> None:
    for ours, standard in ((dumps, _CANONICAL.encode), (compact, _COMPACT.encode)):
        with pytest.raises(TypeError):
            standard(value)
        with pytest.raises(TypeError):
            ours(value)


@pytest.mark.parametrize("value", [
    {"b": [1, 2.5, None, True, "null"], "a": ("t", -0.0)}, [[[]]], {}, "é\u2028", 2**63,
    {"x": 1e-7, "y": 1e16}, -(2**63), 2**64 - 1, [{"n": None}],
])
def test_exact_values_still_encode_to_the_same_json(value) -> None:
    import json
    for ours, standard in ((dumps, _CANONICAL.encode), (compact, _COMPACT.encode)):
        assert json.loads(ours(value)) == json.loads(standard(value))
    assert compact(value, floats=False) == compact(value)


@pytest.mark.parametrize("bad", [math.nan, [math.inf], {"a": -math.inf}, (math.nan,)])
def test_nan_and_infinity_still_refused(bad) -> None:
    for ours in (dumps, compact):
        with pytest.raises(ValueError):
            ours(bad)


def test_a_circular_value_is_refused_not_walked_forever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for ours in (dumps, compact):
        with pytest.raises(ValueError):
            ours(loop)


def test_a_look_skipped_inside_a_transaction_never_vouches_for_state_db(hop) -> None:
    # hop_gate inside the store's transaction makes no freshness look; a commit another
    # connection made since the last look must still move the stamp the request carries.
    store = hop.store
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    before = store.changes_seen()
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        Vault(conn, Path(hop.root / ".silo" / "keys")).tokenize(LATE_NAME, "name", hop.scope)
    finally:
        conn.close()
    with store.transaction():
        assert store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti) is None
        assert store.changes_seen() != before
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    settled = store.changes_seen()
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    assert store.changes_seen() == settled  # outside a transaction, unchanged stays so


def test_a_result_that_minted_is_remembered_from_its_second_run_on(hop, monkeypatch) -> None:
    real = hop.tokenizer.tokenize_any
    runs = []

    def tokenize_any(obj: Any, scope: str, *, mint: bool = True) -> Any:
        runs.append(obj)
        return real(obj, scope, mint=mint)

    monkeypatch.setattr(hop.tokenizer, "tokenize_any", tokenize_any)
    text = "write to late.reply@example.org"
    replies = [hop.call("test.say", n, text=text)["result"] for n in range(1, 5)]
    assert len(runs) == 2  # the minting run, then the one whose answer is kept
    assert replies == [replies[0]] * 4 and "example.org" not in replies[0]["said"]
