"""Red-team review: hostile frames and argument values at the membrane.

The frame parser refuses NaN, Infinity, duplicates and bad UTF-8, but Python's JSON reader
turns `1e309` into `inf` and accepts integers of hundreds of digits and nesting just under
its recursion limit; these travel on into the pipeline. A reply must always be a clear 4xx
that echoes the request id, and nothing accepted may later fail to store.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from test_membrane_support import Hop, make_hop


def raw(hop: Hop, body: str) -> dict[str, Any]:
    """Send a hand-written frame (so numbers reach the parser exactly as spelled)."""
    envelope = f'"v":1,"base_key":"{hop.base_key}","task_key":"{hop.task_key}"'
    line = "{" + envelope + "," + body + "}\n"
    return json.loads(hop.membrane.handle_line(line.encode()))


def test_overflowing_float_is_refused_like_nan(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = raw(hop, '"id":7,"op":"finish","status":200,"summary":{"score":1e309}')
    if reply["ok"]:
        record = hop.membrane.finish_record
        json.dumps(record, allow_nan=False)  # what the store writes must be strict JSON
    else:
        assert reply["error"]["code"] == 400 and reply["id"] == 7


def test_overflowing_amount_never_refunds(tmp_path: Path) -> None:
    """Holds: `inf` fails the max_amount comparison closed."""
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":1,"op":"call","tool":"refunds.issue","args":{{"order":'
                     f'"{hop.tokens["ord"]}","amount":1e309,"reason":"r"}}')
    assert reply["ok"] is False and reply["error"]["code"] in (400, 403)
    assert hop.backoffice.refunds() == []


def test_huge_integer_amount_is_a_clear_refusal(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":9,"op":"call","tool":"refunds.issue","args":{{"order":'
                     f'"{hop.tokens["ord"]}","amount":1{"0" * 400},"reason":"r"}}')
    assert reply["ok"] is False
    assert reply["id"] == 9 and reply["error"]["code"] in (400, 403)


def test_deep_nesting_the_parser_accepts_is_a_clear_refusal(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    nest = "[" * 900 + "]" * 900
    reply = raw(hop, f'"id":4,"op":"finish","status":500,"summary":{{"a":{nest}}}')
    assert reply["id"] == 4
    assert reply["ok"] or reply["error"]["code"] == 400


@pytest.mark.parametrize("amount", ["true", '"100"', "null", "[100]", '{"v":100}'])
def test_amount_of_the_wrong_json_type_is_400(tmp_path: Path, amount: str) -> None:
    """Holds: `true` is never 1 and a string is never a number."""
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":2,"op":"call","tool":"refunds.issue","args":{{"order":'
                     f'"{hop.tokens["ord"]}","amount":{amount},"reason":"r"}}')
    assert reply["ok"] is False
    assert reply["error"]["code"] in (400, 403)
    assert hop.backoffice.refunds() == []


@pytest.mark.parametrize("amount", ["0", "-0.0", "-5", "500.01", "0.001", "1e-300"])
def test_amount_outside_the_grant_or_not_money_never_refunds(tmp_path: Path,
                                                             amount: str) -> None:
    """Holds: zero, negative, over max_amount, sub-cent."""
    hop = make_hop(tmp_path)
    reply = raw(hop, f'"id":3,"op":"call","tool":"refunds.issue","args":{{"order":'
                     f'"{hop.tokens["ord_big"]}","amount":{amount},"reason":"r"}}')
    assert reply["ok"] is False and reply["error"]["code"] == 403
    assert hop.backoffice.refunds() == []


def test_max_amount_is_per_call_not_cumulative(tmp_path: Path) -> None:
    """Documents design §3.1 as written: `max_amount` bounds each call; two refunds of 300
    under a 500 grant both go through (the back office caps the order total)."""
    hop = make_hop(tmp_path)
    first = hop.call("refunds.issue", 1, order=hop.tokens["ord_big"], amount=300,
                     reason="damaged")
    second = hop.call("refunds.issue", 2, order=hop.tokens["ord_big"], amount=300,
                      reason="damaged again")
    third = hop.call("refunds.issue", 3, order=hop.tokens["ord_big"], amount=300,
                     reason="and again")
    assert first["ok"] and second["ok"]
    assert third["ok"] is False  # 900 > the order's 750: the system of record says no
    assert math.isclose(sum(r["amount"] for r in hop.backoffice.refunds()), 600)
