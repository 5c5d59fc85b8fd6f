"""The plaintext guard on its own and behind the two writers it protects (store, LLM log).

Canaries of every kind are refused wherever they sit in a text; what SiloOS legitimately
writes (tokens, hex ids, digests, timestamps, amounts) passes; a refusal names the place
and kind but never the value; a guarded writer leaves nothing behind when it refuses.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest

from siloos.errors import SiloError
from siloos.llm.base import LLMError
from siloos.llm.log import LLMLog
from siloos.privacy import PatternDetector, Vault, create_vault_keys, tokens
from siloos.privacy.guard import GuardVerdict, PlaintextFound, PlaintextGuard, found_error
from siloos.store import StateStore
from siloos.store.errors import PlaintextRefused

# (kind the detector reports, value): each a spelling people really write.
CANARIES: list[tuple[str, str]] = [
    ("email", "odalys.fernwhistle@example.com"),
    ("email", "J.Smith+billing@Mail.Example.CO.UK"),
    ("phone", "0412 345 678"),
    ("phone", "0412345678"),
    ("phone", "+61 412 345 678"),
    ("phone", "+61412345678"),
    ("phone", "(02) 9876 5432"),
    ("phone", "+1 (202) 555-0143"),
    ("phone", "202-555-0143"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "020 7946 0958"),
    ("phone", "0049 30 1234567"),
    ("card", "4111 1111 1111 1111"),
    ("card", "4111111111111111"),
    ("card", "5500-0000-0000-0004"),
    ("card", "3782 822463 10005"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82WEST12345698765432"),
    ("iban", "FR1420041010050500013M02606"),
    ("ssn", "078-05-1120"),
    ("ssn", "123 456 782"),
    ("ip", "192.168.1.20"),
    ("dob", "born 1984-03-09"),
]
CANARY_IDS = [f"{kind}:{value}" for kind, value in CANARIES]

# Where a value may hide in what SiloOS writes: free text, a JSON string among tokens and
# ids, after an escaped newline, as a dict key, deep in a list.
PLACES = [
    "{}",
    "task_lgipk3c756hzr6w6 hop 1: {}",
    json.dumps({"message": "Please write to {} about it."}),
    json.dumps({"args": {"customer": "cust_tk_bwofzvxerblssmyk", "to": "{}"}, "id": 3}),
    json.dumps({"content": "Here is your task:\nnote\n{}\nend"}),
    json.dumps({"variables": {"{}": "ord_tk_hn7qp6ccfjmn5lk2"}}),
    json.dumps({"messages": [{"content": [{"text": "ok"}, {"text": "{}"}]}]}),
    "jti 878ee5c2038d3fdb7b619f08a57b296a: {} at 2026-11-26T23:58:07.168106Z",
]


def _plant(place: str, value: str) -> str:
    if place.startswith("{") or place.startswith("["):
        # Encoded as JSON would encode it (a quote or backslash in the value stays valid).
        return place.replace("{}", json.dumps(value)[1:-1])
    return place.replace("{}", value)


@pytest.fixture(scope="module")
def guard() -> PlaintextGuard:
    return PlaintextGuard()


@pytest.mark.parametrize(("kind", "value"), CANARIES, ids=CANARY_IDS)
def test_every_canary_is_refused_in_every_place(guard: PlaintextGuard, kind: str,
                                                value: str) -> None:
    for place in PLACES:
        verdict = guard.verify(_plant(place, value))
        assert not verdict.ok, place
        assert kind in verdict.kinds, (place, verdict.kinds)


def test_a_refusal_names_place_and_kind_never_the_value(guard: PlaintextGuard) -> None:
    text = json.dumps({"args": {"to": "odalys.fernwhistle@example.com"}, "id": 4})
    verdict = guard.verify(text)
    assert verdict.kinds == ("email",) and verdict.places == ("$.args.to",)
    assert "odalys" not in verdict.reason and "email" in verdict.reason
    with pytest.raises(PlaintextFound) as refused:
        guard.store_check(text)
    assert type(refused.value).__name__ == "PlaintextEmail"
    assert "odalys" not in str(refused.value)
    reason = guard.log_check(text)
    assert reason is not None and "odalys" not in reason and "$.args.to" in reason


def test_a_key_that_is_not_a_field_name_is_not_quoted(guard: PlaintextGuard) -> None:
    verdict = guard.verify(json.dumps({"Odalys Fernwhistle": {"phone": "0412 345 678"}}))
    assert verdict.places == ("$.?.phone",)
    assert "Odalys" not in verdict.reason


def test_a_raw_scan_would_miss_a_value_after_an_escaped_newline(guard: PlaintextGuard) -> None:
    line = json.dumps({"content": "call back on\n0412 345 678"})
    assert guard.detector.find(line) == []  # "\n0412": the n glues to the number
    assert guard.verify(line).kinds == ("phone",)


def test_tokens_whose_ids_are_digit_runs_pass(guard: PlaintextGuard) -> None:
    digit_ids = ["041234567800", "411111111111111100", "078051120123", "192168001020"]
    for kind in tokens.token_types():
        for token_id in digit_ids:
            token = f"{kind}_tk_{token_id}"
            assert tokens.is_token(token)
            for text in (token, f"call {token} now", json.dumps({"to": token}),
                         f"{token} {token}", f"phone: {token}, card {token}"):
                assert guard.verify(text).ok, text


def test_a_token_is_not_a_hiding_place(guard: PlaintextGuard) -> None:
    # Tokens are replaced by a space, so a value written right next to one still stands out.
    text = "phone_tk_041234567800 0412 345 678 card_tk_abcdefghijkl4111111111111111"
    assert guard.verify(text).kinds == ("phone",)


def test_ids_digests_and_timestamps_pass(guard: PlaintextGuard) -> None:
    rng = random.Random(20240611)
    texts = []
    for _ in range(3000):
        raw = rng.randbytes(32)
        texts += [raw[:16].hex(), hashlib.sha256(raw).hexdigest(), f"rf_{raw[:8].hex()}",
                  f"task_{''.join(rng.choices(tokens.ID_ALPHABET, k=16))}",
                  f"msg_{raw[:12].hex()}"]
    texts += [f"2026-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}Z"
              for m, d, h, mi, s, us in
              ((rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                rng.randint(0, 59), rng.randint(0, 999_999)) for _ in range(2000))]
    blob = json.dumps({"ids": texts, "sizes": [rng.randint(0, 10**11) for _ in range(2000)],
                       "ts": [round(rng.uniform(1.6e9, 1.9e9), 3) for _ in range(2000)]})
    verdict = guard.verify(blob)
    assert verdict.ok, verdict.places[:5]
    for text in texts:  # as whole texts (a text column) too, not only inside JSON
        assert guard.verify(f"key {text} revoked").ok, text


def test_amounts_and_policy_prose_pass(guard: PlaintextGuard) -> None:
    prose = ("Refunds up to 500.00 are yours to issue; anything above 500 goes to the manager. "
             "Orders delivered within 30 days (placed on 2024-01-15 or later) qualify. "
             "A 120.0 refund, then 750.00; total 870.00 AUD. Version 1.2.3, step 4 of 10.")
    assert guard.verify(prose).ok
    assert guard.verify(json.dumps({"amount": 750.0, "refund_id": "rf_e4fe5d70f122d1cc",
                                    "max_tokens": 2048, "status": 200, "hop": 2})).ok


def test_a_card_written_as_a_json_number_is_refused(guard: PlaintextGuard) -> None:
    assert guard.verify('{"card": 4111111111111111}').kinds == ("card",)
    assert guard.verify('{"ns": 1764201487123456789, "n": 987654321}').ok


def test_input_that_is_not_json_or_too_deep_is_still_scanned(guard: PlaintextGuard) -> None:
    assert guard.verify('{"broken": "bob@example.com"').kinds == ("email",)
    deep = "[" * 5000 + '"bob@example.com"' + "]" * 5000
    assert guard.verify(deep).kinds == ("email",)
    assert guard.verify("").ok
    assert not guard.verify(b"bob@example.com").ok  # type: ignore[arg-type]


def test_a_guarded_store_refuses_and_writes_nothing(tmp_path: Path,
                                                    guard: PlaintextGuard) -> None:
    db = tmp_path / "state.db"
    with StateStore.open(db, guard=guard.store_check) as store:
        with pytest.raises(PlaintextRefused) as refused:
            store.create_task(agent="refund-agent",
                              input={"message": "Call me on +61 412 345 678 please"})
        message = str(refused.value)
        assert "tasks.input" in message and "PlaintextPhone" in message
        assert "412" not in message
        task_id = store.create_task(agent="refund-agent",
                                    input={"message": "call phone_tk_041234567800 please"})
        with pytest.raises(PlaintextRefused):
            store.audit(task_id, 1, op="call", tool="email.send", ok=True, code=200,
                        reason="ok", detail={"args": {"to": "bob@example.com"}})
        with pytest.raises(PlaintextRefused):
            store.finish_hop(task_id, 0, status=200, stdout="card 4111 1111 1111 1111")
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM hops").fetchone()[0] == 0
    finally:
        con.close()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    assert b"412 345 678" not in data and b"bob@example.com" not in data
    assert b"phone_tk_041234567800" in data  # the clean write went through


def test_a_guarded_llm_log_refuses_a_plaintext_line(tmp_path: Path,
                                                    guard: PlaintextGuard) -> None:
    log = LLMLog(tmp_path, guard=guard.log_check)
    request = {"messages": [{"role": "user", "content": "My IBAN is DE89 3704 0044 0532 0130 00"}]}
    with pytest.raises(LLMError) as refused:
        log.append(task_id="task_lgipk3c756hzr6w6", hop=1, agent="refund-agent", model="m",
                   request=request)
    assert "iban" in str(refused.value) and "DE89" not in str(refused.value)
    assert not log.path.exists()
    log.append(task_id="task_lgipk3c756hzr6w6", hop=1, agent="refund-agent", model="m",
               request={"messages": [{"role": "user", "content": "My IBAN is iban_tk_"
                                      "0123456789ab"}]})
    assert [r["task_id"] for r in log.records()] == ["task_lgipk3c756hzr6w6"]


def test_the_detector_is_the_guards_whole_policy(guard: PlaintextGuard) -> None:
    emails_only = PlaintextGuard(PatternDetector(kinds=["email"]))
    assert emails_only.verify("call 0412 345 678").ok
    assert emails_only.verify("mail bob@example.com").kinds == ("email",)
    assert guard.verify("call 0412 345 678").kinds == ("phone",)


def test_known_values_need_a_vault(guard: PlaintextGuard) -> None:
    with pytest.raises(SiloError, match="needs a vault"):
        guard.for_scope("scp_0123")


def test_a_scope_without_known_values_checks_patterns_only(tmp_path: Path) -> None:
    create_vault_keys(tmp_path / "keys")
    with StateStore.open(tmp_path / "state.db") as store:
        scoped = PlaintextGuard(vault=Vault(store.conn, tmp_path / "keys")).for_scope("scp_none")
        assert scoped.verify("spoke with Odalys Fernwhistle").ok
        assert scoped.verify("mail bob@example.com").kinds == ("email",)


def test_each_kind_has_one_refusal_type() -> None:
    first = found_error(GuardVerdict(False, ("phone", "email"), ("$.a",)))
    again = found_error(GuardVerdict(False, ("phone",), ("$.b",)))
    assert type(first) is type(again) and type(first).__name__ == "PlaintextPhone"
    assert isinstance(first, PlaintextFound) and isinstance(first, SiloError)
    assert first.kinds == ("phone", "email") and "$.a" in str(first)


# -- remembered answers ---------------------------------------------------------------------


def test_remembered_answers_never_change_a_verdict(monkeypatch) -> None:
    """The guard remembers clean texts and each piece's kinds; repeating a refused text is
    refused again, a clean one stays clean, and a full memory is dropped, not trusted."""
    from siloos.privacy import guard as guard_mod

    monkeypatch.setattr(guard_mod, "_MEMO_SIZE", 8)
    g = PlaintextGuard()
    rng = random.Random(7)
    values = ["ok", "refund", "cust_tk_bwofzvxerblssmyk", "O-5001", "120.00",
              *[value for _, value in CANARIES[:12]]]
    for _ in range(400):
        doc = {"id": rng.randint(1, 5), "args": {rng.choice(["to", "note"]): rng.choice(values),
                                                 "list": [rng.choice(values)]}}
        text = json.dumps(doc)
        fresh = PlaintextGuard().verify(text)
        assert g.verify(text) == fresh, text
        assert g.verify(text) == fresh, text  # the second time, from memory
        assert len(g._memo) <= 8 and len(g._clean) <= 8


def test_the_fast_walk_finds_every_piece_the_placed_walk_does() -> None:
    from siloos.privacy.guard import _bare_pieces, _pieces

    rng = random.Random(11)

    def value(depth: int) -> object:
        pick = rng.randrange(6 if depth < 4 else 3)
        if pick == 0:
            return rng.choice(["a", "odalys.fernwhistle@example.com", "x y"])
        if pick == 1:
            return rng.choice([0, 7, 4111111111111111, -41111111111111, True, None, 1.5])
        if pick == 2:
            return rng.choice(["", "cust_tk_bwofzvxerblssmyk"])
        if pick == 3:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {rng.choice(["k", "to", "0412 345 678"]) + str(i): value(depth + 1)
                for i in range(rng.randrange(3))}

    for _ in range(300):
        text = json.dumps(value(0))
        assert sorted(_bare_pieces(text)) == sorted(p for _, p in _pieces(text)), text


def test_the_store_hook_walks_plain_values_and_falls_back_to_the_text(tmp_path: Path) -> None:
    """`check_json(value, text)` refuses exactly what checking the text refuses: a plain
    value is walked as it is; a tuple, an int key, a str subclass or a bool-as-key go
    through the text, which is what is actually stored."""
    from siloos.privacy.guard import StoreHook

    hook = PlaintextGuard().store_hook()
    assert isinstance(hook, StoreHook)
    card, email = "4111 1111 1111 1111", "odalys.fernwhistle@example.com"

    class Sub(str):
        pass

    refused = [{"to": email}, [email], {email: 1}, ("x", email), {4111111111111111: "k"},
               {"n": 4111111111111111}, [Sub(card)], {"a": [{"b": (card,)}]}]
    passed = [{"to": "email_tk_bwofzvxerblssmyk"}, [1, 2.5, None, True], {"n": 12},
              ("ok", 1), {1: "x"}, {"a": [{"b": "c"}]}, []]
    for value in refused:
        text = json.dumps(value)
        with pytest.raises(PlaintextFound):
            hook.check_json(value, text)
        with pytest.raises(PlaintextFound):
            hook(text)
    for value in passed:
        hook.check_json(value, json.dumps(value))
    store = StateStore.open(tmp_path / "state.db", guard=hook)
    try:
        task = store.create_task(agent="a", state="running")
        with pytest.raises(PlaintextRefused, match=r"audit\.detail"):
            store.audit(task, 1, op="call", ok=True, detail={"x": ("y", email)})
        assert email.encode() not in (tmp_path / "state.db").read_bytes()
    finally:
        store.close()
