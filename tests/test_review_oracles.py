"""Red-team review: the privacy-preserving exits as oracles, and what bounds them.

`identity.verify {token, value_sha256}` answers "is the real value behind this token the
one I hashed?". It hydrates any token of the scope, including `cust_tk_…` and `ord_tk_…`,
whose real values are the back office's ids — personal data by design §7, yet short and
sequential (`C-1001`, `O-5001`). The only bound is the hop's `tool_calls` budget.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from test_membrane_support import CAPS, LIMITS, make_hop


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_identity_verify_spends_the_tool_calls_budget(tmp_path: Path) -> None:
    """Holds: every verification is a tool call, so one hop gets at most `tool_calls`."""
    hop = make_hop(tmp_path, limits={**LIMITS, "tool_calls": 5})
    tokens = [hop.tokens["name"], hop.tokens["email"]]
    answers = [hop.call("identity.verify", i, token=tokens[i % 2],
                        value_sha256=sha(f"guess {i}")) for i in range(6)]
    assert all(a["ok"] for a in answers[:5])
    assert answers[5]["error"]["code"] == 429


def test_customers_compare_is_limited_to_the_customer_fields(tmp_path: Path) -> None:
    """Holds: `customers.compare` cannot be pointed at the customer id or another record."""
    hop = make_hop(tmp_path, caps={**CAPS, "customers.compare": {}})
    ask_id = hop.call("customers.compare", 1, customer=hop.tokens["cust"],
                      claimed={"id": sha("C-1001")})
    assert ask_id["ok"] is False and ask_id["error"]["code"] == 403
    other = hop.call("customers.compare", 2, customer=hop.other_tokens["cust"],
                     claimed={"name": sha("x")})
    assert other["ok"] is False and other["error"]["code"] == 403


def test_identity_verify_is_no_oracle_for_back_office_ids(tmp_path: Path) -> None:
    hop = make_hop(tmp_path, limits={**LIMITS, "tool_calls": 50})
    found = []
    for n, guess in enumerate(f"C-{i}" for i in range(990, 1040)):
        reply = hop.call("identity.verify", n, token=hop.tokens["cust"],
                         value_sha256=sha(guess))
        if reply.get("ok") and reply["result"]["match"]:
            found.append(guess)
    assert found == [], f"the cell learned the real customer id: {found}"


def test_identity_verify_stops_answering_after_repeated_mismatches(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    answers = [hop.call("identity.verify", i, token=hop.tokens["name"],
                        value_sha256=sha(f"wrong {i}")) for i in range(10)]
    refused = [a for a in answers if not a["ok"]]
    assert refused, "ten wrong guesses at one token were all answered"
