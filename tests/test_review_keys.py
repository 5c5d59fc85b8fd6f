"""Red-team review: which base key does a hop actually run under?

The router mints a fresh base key for every hop from the agent's current manifest and
pack digest (30-day lifetime, never revoked), and hands it to the cell in its environment.
The cell then sends a base key with every request — any base key. The membrane checks the
signature, the agent name and revocation, but not that the key is the one minted for this
hop (its jti), nor its `digest` or `version` against the agent the cell was started from.
So an agent that once ran with wider capabilities (a higher `max_amount`, an exit since
removed from AGENT.md) keeps them: its code only has to carry the older key.
"""

from __future__ import annotations

from pathlib import Path

from test_membrane_support import AGENT, CAPS, DIGEST, LIMITS, make_hop

from siloos.keys.mint import mint_base_key

OLD_CAPS = {**CAPS, "refunds.issue": {"max_amount": 5000}, "customers.compare": {}}


def older_base_key(hop, caps=OLD_CAPS) -> str:
    """A genuine base key of the same agent from an earlier deployment."""
    return mint_base_key(hop.ring, agent=AGENT, version="0.9.0", digest="ab" * 32,
                         caps=caps, escalate_to=["manager-agent", "human", "anyone"],
                         limits={**LIMITS, "tool_calls": 10_000})


def test_current_key_enforces_the_current_limit(tmp_path: Path) -> None:
    """Control: with the key the router minted, 600 > max_amount 500 is refused."""
    hop = make_hop(tmp_path)
    reply = hop.call("refunds.issue", 1, order=hop.tokens["ord_big"], amount=600,
                     reason="damaged")
    assert reply["ok"] is False and reply["error"]["code"] == 403
    assert DIGEST != "ab" * 32


def test_an_older_base_key_cannot_widen_the_hop(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    hop.base_key = older_base_key(hop)
    refund = hop.call("refunds.issue", 1, order=hop.tokens["ord_big"], amount=600,
                      reason="damaged")
    removed = hop.call("customers.compare", 2, customer=hop.tokens["cust"],
                       claimed={"name": "00"})
    assert refund["ok"] is False, "refund above the current max_amount went through"
    assert removed["ok"] is False, "an exit the current manifest does not grant answered"
    assert hop.backoffice.refunds() == []


def test_an_older_base_key_cannot_add_an_escalation_target(tmp_path: Path) -> None:
    hop = make_hop(tmp_path)
    hop.base_key = older_base_key(hop)
    reply = hop.send("finish", 1, status=301, redirect="anyone")
    assert reply["ok"] is False and reply["error"]["code"] == 403


def test_another_agents_base_key_is_refused_even_with_this_task_key(tmp_path: Path) -> None:
    """Holds: the agent name binds the base key to the cell."""
    hop = make_hop(tmp_path)
    hop.base_key = mint_base_key(hop.ring, agent="manager-agent", version="1.0.0",
                                 digest=DIGEST, caps=OLD_CAPS, escalate_to=[],
                                 limits=LIMITS)
    reply = hop.call("refunds.issue", 1, order=hop.tokens["ord_big"], amount=600,
                     reason="damaged")
    assert reply["ok"] is False and reply["error"]["code"] in (401, 403)


def test_narrow_naming_a_foreign_order_allows_nothing(tmp_path: Path) -> None:
    """Holds: a `narrow` order list with another customer's token grants no order."""
    probe = make_hop(tmp_path / "probe")
    foreign = probe.other_tokens["ord"]
    hop = make_hop(tmp_path / "ws", narrow={"refunds.issue": {"orders": [foreign]}})
    for n, order in enumerate((hop.tokens["ord"], foreign)):
        reply = hop.call("refunds.issue", n, order=order, amount=10, reason="r")
        assert reply["ok"] is False and reply["error"]["code"] == 403
    assert hop.backoffice.refunds() == []
