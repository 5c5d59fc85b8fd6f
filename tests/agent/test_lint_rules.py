"""Every lint rule has a failing and a passing fixture.

The base fixture (tests/fixtures/lint/workspace) is a clean workspace. Each case copies
it and applies edits: `{path: text}` writes a file, `{path: None}` deletes it, and
`{path: [(old, new), ...]}` replaces text that must be present (so fixtures cannot rot
silently). The failing edit must produce the rule's id; the passing edit is a near miss
that must not. A rule added without a case fails `test_every_rule_has_cases`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from siloos.agent.lint import RULES, lint_paths, rule_by_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "workspace"
AGENT = "agents/refund-agent/AGENT.md"
MAIN = "agents/refund-agent/main.py"
PROC = "agents/refund-agent/procedures/issue-refund.md"
WS_PROC = "procedures/verify-identity.md"
POLICY = "agents/refund-agent/policies/limits.md"
FLOW = "workflows/refunds.yaml"
DESC = "description: Refunds delivered orders up to $500; escalates above that."

Edits = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """A failing edit and a passing (near-miss) edit for one rule."""

    fail: Edits
    ok: Edits


def sub(old: str, new: str) -> list[tuple[str, str]]:
    return [(old, new)]


CASES: dict[str, Case] = {
    "SILO100": Case(fail={AGENT: None}, ok={}),
    "SILO101": Case(
        fail={AGENT: sub("version: 1.0.0\n", "version: 1.0.0\nversion: [unclosed\n")},
        ok={AGENT: sub("version: 1.0.0", "version: '1.0.0'")}),
    "SILO102": Case(fail={AGENT: sub("name: refund-agent", "name: refund--agent")},
                    ok={}),
    "SILO103": Case(fail={"agents/refund-agent/AGENT.md": sub("name: refund-agent",
                                                              "name: refunds")},
                    ok={}),
    "SILO104": Case(fail={AGENT: sub(DESC, f"description: {'x' * 1025}")},
                    ok={AGENT: sub(DESC, f"description: {'x' * 1024}")}),
    "SILO105": Case(fail={AGENT: sub("version: 1.0.0", "version: 1.0")},
                    ok={AGENT: sub("version: 1.0.0", "version: 1.0.0-beta.2")}),
    "SILO106": Case(fail={AGENT: sub("model: claude-sonnet-4-5", "model: 45")},
                    ok={AGENT: sub("model: claude-sonnet-4-5\n", "")}),
    "SILO107": Case(fail={AGENT: sub("  orders.get: {}", "  orders.delete: {}")},
                    ok={AGENT: sub("  orders.get: {}", "  orders.list: {}")}),
    "SILO108": Case(fail={AGENT: sub("{max_amount: 500}", "{max_amount: 500, per_day: 3}")},
                    ok={AGENT: sub("{max_amount: 500}",
                                   "{max_amount: 500, orders: [ord_tk_1b2c3d4e5f60]}")}),
    "SILO109": Case(fail={AGENT: sub("{max_amount: 500}", "{max_amount: '500'}")},
                    ok={AGENT: sub("{max_amount: 500}", "{max_amount: 499.5}")}),
    "SILO110": Case(fail={AGENT: sub("refund-denied]", "refund-denied, apology]")},
                    ok={AGENT: sub("[refund-confirmation, refund-denied]",
                                   "[refund-confirmation]")}),
    "SILO111": Case(fail={AGENT: sub("  memory_mb: 256", "  memory_mb: 0")},
                    ok={AGENT: sub("  memory_mb: 256", "  memory_mb: 512\n  pids: 8")}),
    "SILO112": Case(fail={AGENT: sub("escalate_to: [manager-agent, human]",
                                     "escalate_to: manager-agent")},
                    ok={AGENT: sub("escalate_to: [manager-agent, human]",
                                   "escalate_to: [human]")}),
    "SILO113": Case(fail={AGENT: sub("[manager-agent, human]", "[finance-agent, human]")},
                    ok={}),
    "SILO114": Case(fail={AGENT: sub("model: claude", "owner: team-a\nmodel: claude")},
                    ok={}),
    "SILO115": Case(fail={AGENT: sub("## Limitations", "## Caveats")},
                    ok={AGENT: sub("## Limitations", "### limitations")}),
    "SILO116": Case(fail={MAIN: None}, ok={}),
    "SILO201": Case(fail={PROC: sub("---\nname: issue-refund", "name: issue-refund")},
                    ok={}),
    "SILO202": Case(fail={PROC: sub("name: issue-refund", "name: Issue_Refund")}, ok={}),
    "SILO203": Case(fail={PROC: sub("description: Refund a delivered order when the "
                                    "customer is eligible.\n", "")}, ok={}),
    "SILO204": Case(fail={PROC: sub("uses: [orders.get,", "uses: [{orders: get},")},
                    ok={PROC: [("uses: [orders.get, refunds.issue, email.send]\n", ""),
                               ("1. Look the order up with `orders.get`.", "1. Look it up."),
                               ("call `refunds.issue(order, amount, reason)`", "refund it"),
                               ("Confirm with `email.send` and", "Confirm with")]}),
    "SILO205": Case(fail={PROC: [("when: The customer", "when: [The customer"),
                                 ("for an order.\n---", "for an order.]\n---")]},
                    ok={PROC: sub("when: The customer asks for money back for an order.\n",
                                  "")}),
    "SILO206": Case(fail={WS_PROC: sub("identity.verify]", "identity.verify, sms.send]")},
                    ok={}),
    "SILO207": Case(fail={PROC: sub("uses: [orders.get,", "uses: [orders.list, orders.get,")},
                    ok={WS_PROC: sub("uses: [customers.get, identity.verify]",
                                     "uses: [customers.get, identity.verify, orders.list]")}),
    "SILO208": Case(fail={PROC: sub("3. Confirm", "3. Check `orders.list` too.\n4. Confirm")},
                    ok={PROC: sub("3. Confirm", "3. Open `main.py` and `tools.summarise`.\n"
                                               "4. Confirm")}),
    "SILO209": Case(fail={PROC: sub("when:", "owner: ops\nwhen:")}, ok={}),
    "SILO301": Case(fail={"agents/refund-agent/examples/broken.md": b"\xff\xfe bad"}, ok={}),
    "SILO302": Case(fail={POLICY: sub("(../AGENT.md#escalation)", "(../ESCALATION.md)")},
                    ok={}),
    "SILO303": Case(fail={POLICY: sub("(../AGENT.md#escalation)", "(../../../../silo.toml)")},
                    ok={POLICY: sub("(../AGENT.md#escalation)", "(../../../silo.toml)")}),
    "SILO304": Case(fail={POLICY: sub("(../AGENT.md#escalation)", "(file:///etc/passwd)")},
                    ok={POLICY: sub("(../AGENT.md#escalation)", "(https://example.com/x)")}),
    "SILO401": Case(fail={MAIN: "def broken(:\n"}, ok={}),
    "SILO402": Case(fail={MAIN: "import requests\n"},
                    ok={MAIN: "import json\nimport silo\nimport tools\nfrom . import tools\n"}),
    "SILO403": Case(fail={MAIN: "from socket import socket\n"},
                    ok={MAIN: "import selectors\nimport silo\n"}),
    "SILO404": Case(fail={"agents/refund-agent/tools.py": "import os\nos.execv('/bin/sh', [])\n"},
                    ok={"agents/refund-agent/tools.py": "import os\nos.path.join('a')\n"}),
    "SILO405": Case(fail={MAIN: "import importlib\nimportlib.import_module('json')\n"},
                    ok={MAIN: "import importlib.resources\n"}),
    "SILO501": Case(fail={POLICY: sub("jane.doe@example.com", "jane.doe@gmail.com")},
                    ok={POLICY: sub("jane.doe@example.com", "email_tk_9f2c81d0a7b4 or "
                                                            "ops@support.test")}),
    "SILO502": Case(fail={POLICY: sub("+1 415-555-0123", "+1 415-867-5309")},
                    ok={POLICY: sub("+1 415-555-0123", "07700 900123 on 2024-01-15")}),
    "SILO503": Case(fail={POLICY: sub("+1 415-555-0123", "4539 1488 0343 6467")},
                    ok={POLICY: sub("+1 415-555-0123", "4242 4242 4242 4242 or 4539 1488 "
                                                       "0343 6468")}),
    "SILO601": Case(fail={FLOW: "name: refunds\nstages: [\n"}, ok={}),
    "SILO602": Case(fail={FLOW: sub("name: refunds", "name: refund-flow")}, ok={}),
    "SILO603": Case(fail={FLOW: sub("description: Refund requests, with the manager for "
                                    "large amounts.\n", "")}, ok={}),
    "SILO604": Case(fail={FLOW: sub("  - agent: refund-agent", "  - name: first\n"
                                                               "    agnt: refund-agent")},
                    ok={}),
    "SILO605": Case(fail={FLOW: sub("  - agent: refund-agent", "  - agent: triage-agent")},
                    ok={}),
    "SILO606": Case(fail={FLOW: sub("manager-agent: Refunds above 500",
                                    "finance-agent: Refunds above 500")},
                    ok={FLOW: sub("manager-agent: Refunds above 500",
                                  "human:billing: A person decides")}),
    "SILO607": Case(fail={FLOW: sub("max_redirects: 3", "max_redirects: many")},
                    ok={FLOW: sub("max_redirects: 3", "max_redirects: 0")}),
    "SILO608": Case(fail={FLOW: sub("500: abort", "500: retry")},
                    ok={FLOW: sub("400: human", "'400': manager-agent")}),
    "SILO609": Case(fail={FLOW: sub("{max_amount: 300}", "{max_amount: [300]}")},
                    ok={FLOW: sub("{max_amount: 300}", "{max_amount: 300, orders: []}")}),
    "SILO610": Case(fail={FLOW: sub("max_redirects: 3", "max_redirects: 3\nowner: ops")},
                    ok={}),
}


def apply(root: Path, edits: Edits) -> None:
    for rel, change in edits.items():
        path = root / rel
        if change is None:
            path.unlink()
        elif isinstance(change, bytes):
            path.write_bytes(change)
        elif isinstance(change, str):
            path.write_text(change, encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
            for old, new in change:
                assert old in text, f"fixture edit {old!r} not found in {rel}"
                text = text.replace(old, new, 1)
            path.write_text(text, encoding="utf-8")


def lint_edited(tmp_path: Path, edits: Edits, *, strict: bool = True) -> list[Any]:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    apply(root, edits)
    return lint_paths([root], strict=strict)


def test_every_rule_has_cases() -> None:
    assert set(CASES) == {rule.id for rule in RULES}


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.id[:4] == "SILO" and rule.id[4] in "123456" and len(rule.id) == 7
        assert rule.summary and rule.severity in ("error", "warning")


def test_base_fixture_is_clean_with_strict(tmp_path: Path) -> None:
    assert lint_edited(tmp_path, {}) == []


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_on_its_failing_fixture(tmp_path: Path, rule_id: str) -> None:
    findings = lint_edited(tmp_path, CASES[rule_id].fail)
    assert rule_id in {f.rule for f in findings}, findings
    for finding in findings:
        assert finding.line >= 1 and finding.message


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_on_its_passing_fixture(tmp_path: Path, rule_id: str) -> None:
    findings = lint_edited(tmp_path, CASES[rule_id].ok)
    assert [f for f in findings if f.rule == rule_id] == []


@pytest.mark.parametrize("rule_id", sorted(r.id for r in RULES if r.severity == "warning"))
def test_warnings_are_errors_only_with_strict(tmp_path: Path, rule_id: str) -> None:
    lenient = lint_edited(tmp_path / "a", CASES[rule_id].fail, strict=False)
    strict = lint_edited(tmp_path / "b", CASES[rule_id].fail, strict=True)
    assert {f.severity for f in lenient if f.rule == rule_id} == {"warning"}
    assert {f.severity for f in strict if f.rule == rule_id} == {"error"}


def test_findings_point_at_the_offending_line(tmp_path: Path) -> None:
    findings = lint_edited(tmp_path, CASES["SILO109"].fail)
    (finding,) = [f for f in findings if f.rule == "SILO109"]
    assert finding.path.name == "AGENT.md"
    assert finding.line == 10  # `refunds.issue: {max_amount: '500'}`
    assert rule_by_id("SILO109") is not None


def test_docs_list_every_rule() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lint.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` |" in doc, rule.id
