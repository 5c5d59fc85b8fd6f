"""The plaintext guard against what a real demo run stores: no false alarm on any of it,
every canary planted in any of it refused, and a demo run with the guard installed in the
store and the LLM log (as `Runtime.open` is to wire it) goes through without one refusal.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import siloos.router.runtime as runtime
from siloos.cli.demo import run_demo
from siloos.privacy.guard import GuardVerdict, PlaintextGuard, StoreHook
from siloos.privacy.vault import Vault
from siloos.store import StateStore
from siloos.workspace import Workspace

CANARIES = {
    "email": "odalys.fernwhistle@example.com",
    "phone": "+61 412 345 678",
    "card": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ssn": "078-05-1120",
}


def stored_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every text value in state.db (BLOB columns, the vault's sealed
    values, are bytes and skipped) and every line of the LLM log."""
    con = sqlite3.connect(root / ".silo" / "state.db")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str):
                        yield f"{table}.{column}", value
    finally:
        con.close()
    log = root / ".silo" / "logs" / "llm.jsonl"
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), start=1):
        yield f"llm.jsonl:{number}", line


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo")
    run_demo(base, say=lambda _line: None)
    return base / "workspace"


@pytest.fixture(scope="module")
def texts(demo_root: Path) -> list[tuple[str, str]]:
    found = list(stored_texts(demo_root))
    tables = {where.split(".")[0] for where, _ in found}
    # The run stored what the guard must stay quiet on: tasks, hops, events, audit, key
    # revocations, exit results, the vault's scope and token columns, and prompts.
    assert {"tasks", "hops", "events", "audit", "revoked", "exit_calls", "vault_entries",
            "llm"} <= tables
    return found


def test_nothing_a_demo_run_stored_is_taken_for_plaintext(texts: list[tuple[str, str]]) -> None:
    guard = PlaintextGuard()
    alarms = [(where, guard.verify(text).reason) for where, text in texts
              if not guard.verify(text).ok]
    assert alarms == []


def test_with_the_customers_known_values_still_no_alarm(demo_root: Path,
                                                        texts: list[tuple[str, str]]) -> None:
    ws = Workspace.load(demo_root)
    with StateStore.open(ws.state_db) as store:
        vault = Vault(store.conn, ws.keys_dir)
        (scope,) = {text for where, text in texts if where == "tasks.customer_scope"}
        known = vault.known_values(scope)
        assert {kind for _value, kind, _token in known} >= {"name", "email", "phone", "addr"}
        scoped = PlaintextGuard(vault=vault).for_scope(scope)
        assert [where for where, text in texts if not scoped.verify(text).ok] == []
        # A name no pattern recognizes is caught by the scoped guard only.
        (name,) = [value for value, kind, _token in known if kind == "name"]
        note = json.dumps({"note": f"spoke with {name} today"})
        assert PlaintextGuard().verify(note).ok
        assert scoped.verify(note).kinds == ("name",)


def _plant_in_text(text: str, canary: str) -> str:
    """`canary` inserted mid-text, between two words (so it does not run into a number)."""
    gaps = [m.start() + 2 for m in re.finditer(r"[A-Za-z] [A-Za-z]", text)]
    if not gaps:
        return f"{text}; {canary}"
    at = gaps[len(gaps) // 2]
    return f"{text[:at]}{canary} {text[at:]}"


def _plant(text: str, canary: str) -> str:
    """The stored text with `canary` in its longest string (JSON kept valid), or in the
    text itself when it is not JSON; a JSON document without strings gets a new field."""
    try:
        doc = json.loads(text)
    except ValueError:
        return _plant_in_text(text, canary)
    if not isinstance(doc, (dict, list)):
        return _plant_in_text(text, canary)
    holders: list[tuple[Any, Any, str]] = []  # (container, key, string)
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, value in pairs:
            if isinstance(value, str):
                holders.append((item, key, value))
            elif isinstance(value, (dict, list)):
                stack.append(value)
    if not holders:
        if isinstance(doc, dict):
            doc["planted"] = canary
        else:
            doc.append(canary)
    else:
        container, key, value = max(holders, key=lambda h: len(h[2]))
        container[key] = _plant_in_text(value, canary)
    return json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize("kind", sorted(CANARIES))
def test_a_canary_planted_in_any_stored_text_is_refused(kind: str,
                                                        texts: list[tuple[str, str]]) -> None:
    guard = PlaintextGuard()
    canary = CANARIES[kind]
    missed = []
    for where, text in texts:
        planted = _plant(text, canary)
        assert canary in planted or json.dumps(canary)[1:-1] in planted
        verdict = guard.verify(planted)
        if verdict.ok or kind not in verdict.kinds:
            missed.append(where)
    assert missed == []


class _CountingGuard(PlaintextGuard):
    """The real guard, remembering every verdict it gave (to show it ran, and said no),
    and how many texts its store hook was handed (a text it already found clean is
    answered by the hook from memory, without a new verdict)."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[GuardVerdict] = []
        self.hooked = 0

    def verify(self, text: str) -> GuardVerdict:
        verdict = super().verify(text)
        self.verdicts.append(verdict)
        return verdict

    def store_hook(self) -> StoreHook:
        guard = self

        class Counting(StoreHook):
            def __call__(self, text: str) -> None:
                guard.hooked += 1
                super().__call__(text)

        return Counting(self)


def test_a_guarded_demo_run_goes_through_without_a_refusal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `Runtime.open` wires a PlaintextGuard into the store and the LLM log; count what the
    # real guards decided during a whole demo run.
    made: list[_CountingGuard] = []

    def counting_guard() -> _CountingGuard:
        made.append(_CountingGuard())
        return made[-1]

    monkeypatch.setattr(runtime, "PlaintextGuard", counting_guard)
    run_demo(tmp_path, say=lambda _line: None)  # raises unless both tasks end done
    assert len(made) == 2  # one runtime: the store's guard first, then the LLM log's
    store_guard, log_guard = made

    # Every text the store wrote went through the hook; most of them were new to it.
    assert store_guard.hooked > 100 and len(store_guard.verdicts) > 20, (
        store_guard.hooked, len(store_guard.verdicts))
    assert len(log_guard.verdicts) > 5
    assert [v.reason for v in store_guard.verdicts + log_guard.verdicts if not v.ok] == []
    root = tmp_path / "workspace"
    dropped = [text for where, text in stored_texts(root)
               if where == "audit.reason" and "audit detail dropped" in text]
    assert dropped == []
