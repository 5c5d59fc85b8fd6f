"""What the membrane now remembers or encodes once, checked for correctness only.

- Tokenized exit results (`TokenizedResults`): a remembered answer is never given once the
  scope's known values change — a value added by this process or another is found in the
  very next result — and only results of exact JSON types are remembered at all.
- The reply is built from the text the result was recorded as, and a replayed call
  answers with the same bytes.
- Effective caps worked out once per key pair: a pair whose caps cannot be computed is
  refused every time.
- The call pipeline keeps its named steps in the order of design §5.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest
from test_membrane_support import Hop, say, test_registry

from siloos.exits import Registry
from siloos.membrane import checks
from siloos.membrane.memo import TokenizedResults
from siloos.membrane.server import Membrane

NEW_NAME = "Quimby Starlark"


@pytest.fixture
def hop(say_hop: Hop) -> Hop:
    """This module's hop: one whose membrane also serves `test.say`."""
    return say_hop


def test_a_value_added_to_the_scope_is_found_in_the_next_identical_result(hop):
    text = f"please ask {NEW_NAME} about it"
    first = hop.call("test.say", 1, text=text)
    again = hop.call("test.say", 2, text=text)
    assert first["result"] == again["result"] == {"said": text}  # not a known value yet
    token = hop.vault.tokenize(NEW_NAME, "name", hop.scope)
    after = hop.call("test.say", 3, text=text)
    assert after["result"] == {"said": f"please ask {token} about it"}


def test_a_value_added_by_another_process_is_found_in_the_next_result(hop):
    text = f"{NEW_NAME} called twice"
    assert hop.call("test.say", 1, text=text)["result"] == {"said": text}
    script = textwrap.dedent(f"""
        import sqlite3
        from pathlib import Path
        from siloos.privacy.vault import Vault
        conn = sqlite3.connect({str(hop.store.path)!r}, isolation_level=None)
        print(Vault(conn, Path({str(hop.root / '.silo' / 'keys')!r})).tokenize(
            {NEW_NAME!r}, "name", {hop.scope!r}))
        conn.close()
    """)
    token = subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                           capture_output=True, text=True).stdout.strip()
    assert token.startswith("name_tk_")
    assert hop.call("test.say", 2, text=text)["result"] == {"said": f"{token} called twice"}


def test_remembered_answers_equal_fresh_tokenizing(hop):
    text = "mail odalys.fernwhistle@example.com or call +61 2 9876 5432"
    replies = [hop.call("test.say", n, text=text)["result"] for n in range(1, 4)]
    fresh = hop.tokenizer.tokenize_any({"said": text}, hop.scope)
    assert replies == [fresh] * 3
    assert "example.com" not in json.dumps(replies) and "9876" not in json.dumps(replies)


@pytest.mark.parametrize("value", [
    (1, 2), {1: "x"}, {"a": (1,)}, float("nan"), {"a": float("inf")}, {"a": {1, 2}},
    type("S", (str,), {})("text"), {"a": type("I", (int,), {})(5)}, "x" * 5000,
])
def test_only_exact_json_results_are_remembered(value):
    assert TokenizedResults().key(value) is None


def test_key_is_the_exact_text_in_insertion_order():
    memo = TokenizedResults()
    assert memo.key({"b": 1, "a": [True, None, 1.5, "é"]}) == '{"b":1,"a":[true,null,1.5,"é"]}'
    assert memo.key({"a": 1, "b": 1}) != memo.key({"b": 1, "a": 1})
    assert memo.key({"a": 1}) != memo.key({"a": True}) != memo.key({"a": 1.0})


def test_an_answer_is_given_only_under_its_own_stamp():
    memo = TokenizedResults(size=2)
    memo.put("k", ("scope", "tool", (3, 9), None), {"v": 1})
    assert memo.get("k", ("scope", "tool", (3, 9), None)) == {"v": 1}
    assert memo.get("k", ("scope", "tool", (4, 10), None)) is None
    assert memo.get("k", ("other", "tool", (3, 9), None)) is None
    memo.put("k2", "s", 1)
    memo.put("k3", "s", 2)  # over the size: everything before is forgotten
    assert memo.get("k", ("scope", "tool", (3, 9), None)) is None


def test_the_reply_is_the_recorded_text_and_a_replay_answers_the_same(hop):
    line = hop.frame("call", 5, tool="test.say", args={"text": "héllo"})
    reply = hop.membrane.handle_line(line)
    key = f"{hop.task_id}/1/1"
    stored = hop.store.lookup_exit_result(key)
    assert reply == b'{"id":5,"ok":true,"result":' + stored.result_json.encode() + b"}\n"
    assert json.loads(reply) == {"id": 5, "ok": True, "result": {"said": "héllo"}}
    # A retried hop (a new membrane, its sequence back at 1) replays the recorded bytes.
    hop.membrane.close_journal()  # one live membrane per hop
    again = Membrane(hop.membrane.session, verifier=hop.verifier,
                     registry=Registry([*test_registry(), say.__silo_exit__]),
                     store=hop.store, tokenizer=hop.tokenizer, services=hop.services)
    assert again.handle_line(line) == reply
    assert hop.last_audit()["detail"].get("replayed") is True


def test_every_call_is_still_audited_and_recorded_before_its_reply(hop):
    for n in range(1, 4):
        hop.call("test.say", n, text="same text")
    rows = [r for r in hop.audit() if r["op"] == "call"]
    assert [(r["ok"], r["detail"]["seq"]) for r in rows] == [(True, 1), (True, 2), (True, 3)]
    keys = [r[0] for r in hop.store.conn.execute(
        "SELECT idempotency_key FROM exit_calls WHERE task_id = ? ORDER BY seq",
        (hop.task_id,))]
    assert keys == [f"{hop.task_id}/1/{n}" for n in (1, 2, 3)]


def test_caps_that_cannot_be_computed_are_refused_every_time():
    calls: list[tuple[Any, Any]] = []

    def broken(base: Any, task: Any) -> dict[str, dict[str, Any]]:
        calls.append((base, task))
        raise ValueError("no caps")

    step = checks.CapabilityGranted(broken)
    base, task = object(), object()
    for _ in range(3):
        ex = SimpleNamespace(base=base, task=task, tool="t", caps={})
        verdict = step.verify(ex)  # type: ignore[arg-type]
        assert isinstance(verdict, checks.Refusal) and verdict.code == 403
    assert len(calls) == 1  # worked out once for the pair, refused each time


def test_caps_are_worked_out_again_for_another_key_pair():
    seen: list[Any] = []

    def caps(base: Any, task: Any) -> dict[str, dict[str, Any]]:
        seen.append(base)
        return {"t": {}} if base.name == "wide" else {}

    step = checks.CapabilityGranted(caps)
    task = SimpleNamespace(narrow=None)
    wide, narrow = SimpleNamespace(name="wide", caps={}), SimpleNamespace(name="narrow", caps={})
    for base, allowed in ((wide, True), (narrow, False), (wide, True)):
        ex = SimpleNamespace(base=base, task=task, tool="t", caps={})
        assert (step.verify(ex) is checks.PASS) is allowed  # type: ignore[arg-type]
    assert [b.name for b in seen] == ["wide", "narrow", "wide"]


def test_the_call_pipeline_keeps_its_named_steps_in_order(hop):
    names = hop.membrane._pipelines["call"].names
    assert names == (
        "keys_verified", "base_key_pinned", "agents_match", "task_active", "tool_known",
        "capability_granted", "within_tool_calls", "args_match_schema",
        "no_near_miss_tokens", "tokens_in_scope", "hydrated_args_are_tokens",
        "resolve_tokens", "constraints_hold", "hydrate", "replay_recorded", "execute",
        "tokenize_result", "record_result")


def test_identity_verify_still_answers_through_the_remembered_path(hop):
    right = hashlib.sha256(b"odalys.fernwhistle@example.com").hexdigest()
    for n in range(1, 4):
        reply = hop.call("identity.verify", n, token=hop.tokens["email"], value_sha256=right)
        assert reply == {"id": n, "ok": True, "result": {"match": True}}


# -- KnownVersions: the vault asked again whenever state.db may have changed ------------


class CountingVault:
    def __init__(self, inserted: object = 0) -> None:
        self.asked = 0
        self.version = 1
        if inserted is not None:
            self.inserted = inserted

    def known_version(self, scope: str) -> int:
        self.asked += 1
        return self.version

    def resolve(self, token: str, scope: str) -> str:
        raise AssertionError("not used")


def test_known_versions_ask_again_whenever_the_stamp_or_the_inserts_move() -> None:
    from siloos.membrane.memo import KnownVersions

    vault = CountingVault()
    versions = KnownVersions(vault)
    assert versions.of("s", 5) == 1 and versions.of("s", 5) == 1 and vault.asked == 1
    assert versions.of("t", 5) == 1 and vault.asked == 2  # per scope
    vault.version = 2
    assert versions.of("s", 6) == 2 and vault.asked == 3  # another connection committed
    vault.version = 3
    vault.inserted += 1
    assert versions.of("s", 6) == 3 and vault.asked == 4  # this process inserted


def test_known_versions_without_a_stamp_or_an_insert_count_always_ask() -> None:
    from siloos.membrane.memo import KnownVersions

    for vault, stamp in ((CountingVault(), None), (CountingVault(inserted=None), 1),
                         (CountingVault(inserted="x"), 1)):
        versions = KnownVersions(vault)
        versions.of("s", stamp)
        versions.of("s", stamp)
        assert vault.asked == 2


def test_a_version_read_while_the_vault_inserts_is_not_kept() -> None:
    from siloos.membrane.memo import KnownVersions

    class InsertingVault(CountingVault):
        def known_version(self, scope: str) -> int:
            self.inserted += 1  # another thread of this process minted meanwhile
            return super().known_version(scope)

    vault = InsertingVault()
    versions = KnownVersions(vault)
    versions.of("s", 1)
    versions.of("s", 1)
    assert vault.asked == 2


def test_the_store_sees_another_connections_commit_at_its_next_look(hop) -> None:
    store = hop.store
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    before = store.changes_seen()
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    assert store.changes_seen() == before  # nothing committed elsewhere
    hop.vault.tokenize("new.value@example.com", "email", hop.scope)  # the vault's connection
    assert hop.vault.inserted >= 1
    store.hop_gate(hop.task_id, 1, hop.task_jti, hop.base_jti)
    assert store.changes_seen() != before


class _EchoTokenizer:
    """A tokenizer that finds nothing (so masking is the only thing that can change a
    result), over a vault whose known values never change."""

    detector = None

    def __init__(self) -> None:
        self.vault = SimpleNamespace(known_version=lambda scope: (1, 1), inserted=0)
        self.runs = 0

    def tokenize_any(self, value: Any, scope: str, mint: bool = True) -> Any:
        self.runs += 1
        return value


def _tokenize_step_exchange(resolved: dict[str, str]) -> Any:
    spec = SimpleNamespace(pii={})
    return SimpleNamespace(notes={}, session=SimpleNamespace(scope="s"), tool="t.echo",
                           spec=spec, state_stamp=7, resolved=resolved, known_version=None,
                           result={"said": "ring Quimby Starlark"}, result_json=None)


def test_a_remembered_answer_masked_again_is_encoded_from_what_was_masked() -> None:
    from siloos.membrane.actions import TokenizeResult
    from siloos.store.encoding import dumps

    tokenizer = _EchoTokenizer()
    step = TokenizeResult(tokenizer, remember=True)
    plain = _tokenize_step_exchange({})
    assert step.verify(plain) is checks.PASS
    assert step.verify(_tokenize_step_exchange({})) is checks.PASS
    assert tokenizer.runs == 1  # the second answer came from memory
    # The same result, but this request resolved a token to a value the result holds:
    # the answer from memory is masked, and the text sent is the masked value's.
    token = "name_tk_0123456789abcdef"
    masked = _tokenize_step_exchange({token: "Quimby Starlark"})
    assert step.verify(masked) is checks.PASS
    assert tokenizer.runs == 1
    assert masked.result == {"said": f"ring {token}"}
    assert masked.result_json.text == dumps(masked.result)
    assert "Quimby" not in masked.result_json.text
    # ...and the remembered answer itself was not changed by the masking.
    again = _tokenize_step_exchange({})
    assert step.verify(again) is checks.PASS
    assert again.result_json.text == dumps({"said": "ring Quimby Starlark"})
