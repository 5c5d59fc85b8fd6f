"""Review findings 10 and 11: hostile numbers and nesting are clear refusals with the id.

Non-finite floats (1e309, -1e309) are refused at parse time like NaN; nesting deeper than
`MAX_DEPTH` is refused at parse time; a huge integer fails a numeric constraint closed;
and any internal failure after the frame was read still echoes the request's id.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from test_membrane_support import Hop, make_hop

from siloos.exits.spec import Constraint
from siloos.membrane.protocol import MAX_DEPTH, FrameError, decode_json, parse_request
from siloos.membrane.server import Membrane


def raw(hop: Hop, body: str, membrane: Membrane | None = None) -> dict[str, Any]:
    envelope = f'"v":1,"base_key":"{hop.base_key}","task_key":"{hop.task_key}"'
    line = "{" + envelope + "," + body + "}\n"
    return json.loads((membrane or hop.membrane).handle_line(line.encode()))


def nested(levels: int) -> str:
    """`levels` arrays inside one another."""
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("number", ["1e309", "-1e309", "1.5e400", "-0.1e99999"])
def test_non_finite_numbers_are_refused_with_the_id(tmp_path: Path, number: str) -> None:
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":"n1","op":"call","tool":"tests.echo","args":{{"n":{number}}}')
    assert reply["ok"] is False and reply["id"] == "n1"
    assert reply["error"]["code"] == 400 and "finite" in reply["error"]["message"]
    reply = raw(hop, f'"id":8,"op":"finish","status":200,"output":{{"x":[{number}]}}')
    assert reply["ok"] is False and reply["id"] == 8 and reply["error"]["code"] == 400
    assert "finite" in reply["error"]["message"]
    assert hop.membrane.finish_record is None


def test_an_overflowing_amount_is_a_400_before_any_check(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":1,"op":"call","tool":"refunds.issue","args":{{"order":'
                     f'"{hop.tokens["ord"]}","amount":1e309,"reason":"r"}}')
    assert reply["ok"] is False and reply["id"] == 1 and reply["error"]["code"] == 400
    assert hop.backoffice.refunds() == []


def test_large_finite_floats_are_still_numbers() -> None:
    value = decode_json(b'{"a": 1.7e308, "b": -2.5e-320, "c": 0.1}')
    assert value == {"a": 1.7e308, "b": -2.5e-320, "c": 0.1}


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    # The request object itself is level 1, `summary` level 2, so MAX_DEPTH - 2 arrays fit.
    def frame(levels: int) -> bytes:
        return (f'{{"v":1,"id":3,"op":"finish","status":200,'
                f'"summary":{{"a":{nested(levels)}}}}}').encode()

    assert parse_request(frame(MAX_DEPTH - 2)).fields["status"] == 200
    with pytest.raises(FrameError) as refused:
        parse_request(frame(MAX_DEPTH - 1))
    assert refused.value.code == 400 and refused.value.request_id == 3


def test_many_shallow_containers_are_not_deep() -> None:
    wide = "[" + ",".join(["{}"] * 5000) + "]"
    assert len(decode_json(f'{{"a":{wide}}}'.encode())["a"]) == 5000


def test_deep_nesting_with_a_surrogate_escape_is_a_clear_refusal(tmp_path: Path) -> None:
    """The surrogate scan is recursive; depth is refused before it can run."""
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":4,"op":"finish","status":500,'
                     f'"summary":{{"a":{nested(900)},"b":"\\ud800"}}')
    assert reply["ok"] is False and reply["id"] == 4 and reply["error"]["code"] == 400


def test_nesting_beyond_the_json_readers_own_limit_is_a_clear_refusal(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":4,"op":"finish","status":500,"summary":{{"a":{nested(50000)}}}')
    assert reply["ok"] is False and reply["error"]["code"] == 400


@pytest.mark.parametrize("rule", ["<=", ">="])
def test_a_huge_integer_fails_a_numeric_constraint_closed(rule: str) -> None:
    constraint = Constraint("limit", "amount", rule)
    assert constraint.allows(500, 10**400) is False
    assert constraint.allows(10**400, 5) is False
    assert constraint.allows(500, 5) is (rule == "<=")


def test_a_huge_integer_amount_refunds_nothing(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = hop.call("refunds.issue", 12, order=hop.tokens["ord"], amount=10**400, reason="r")
    assert reply["ok"] is False and reply["id"] == 12 and reply["error"]["code"] == 403
    assert hop.backoffice.refunds() == []


class ExplodingPayload(Mapping[str, Any]):
    """A task payload that fails when read: an internal error inside the pipeline."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("payload store unavailable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("payload store unavailable")

    def __len__(self) -> int:
        return 1


def test_an_internal_error_still_echoes_the_request_id(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    session = dataclasses.replace(hop.membrane.session, task_payload=ExplodingPayload())
    hop.membrane.close_journal()  # one live membrane per hop
    membrane = Membrane(session, verifier=hop.verifier, registry=hop.registry,
                        store=hop.store, tokenizer=hop.tokenizer, services=hop.services)
    reply = raw(hop, '"id":"req-77","op":"task"', membrane)
    assert reply == {"id": "req-77", "ok": False,
                     "error": {"code": 500, "type": "internal_error",
                               "message": "internal error"}}
    last = hop.last_audit()
    assert last["op"] == "internal" and last["code"] == 500
    # The membrane keeps answering after the failure.
    assert raw(hop, '"id":78,"op":"task"', membrane)["ok"] is False
    # And a membrane of the same hop with a sound payload answers normally.
    membrane.close_journal()
    sound = Membrane(hop.membrane.session, verifier=hop.verifier, registry=hop.registry,
                     store=hop.store, tokenizer=hop.tokenizer, services=hop.services)
    assert raw(hop, '"id":79,"op":"task"', sound)["ok"] is True
