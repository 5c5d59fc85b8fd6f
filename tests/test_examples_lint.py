"""The shipped example agents and shared procedures lint clean with --strict, and pack."""

from __future__ import annotations

from pathlib import Path

import pytest

import siloos
from siloos.exits import Registry
from siloos.workspace import Workspace

REPO = Path(siloos.__file__).resolve().parent.parent
EXAMPLES = ("refund-agent", "manager-agent")


@pytest.fixture(scope="module")
def repo_ws() -> Workspace:
    return Workspace.load(REPO)


def strict_findings(ws: Workspace, *paths: Path) -> list[object]:
    from siloos.agent.lint import lint_paths

    return lint_paths(list(paths), registry=Registry.for_workspace(ws), strict=True,
                      workspace_root=ws.root)


def test_repository_is_a_workspace(repo_ws: Workspace) -> None:
    assert repo_ws.root == REPO
    for folder in ("agents", "procedures", "workflows", "recordings"):
        assert (REPO / folder).is_dir(), folder


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_agent_lints_clean_strict(repo_ws: Workspace, name: str) -> None:
    assert strict_findings(repo_ws, REPO / "agents" / name) == []


def test_shared_procedures_lint_clean_strict(repo_ws: Workspace) -> None:
    assert strict_findings(repo_ws, REPO / "procedures") == []


def test_refund_agent_manifest_says_what_the_design_says() -> None:
    from siloos.agent.loader import load_agent

    agent = load_agent(REPO / "agents" / "refund-agent")
    assert agent.capabilities["refunds.issue"] == {"max_amount": 500}
    assert set(agent.capabilities) == {"llm", "customers.get", "orders.list", "orders.get",
                                       "refunds.issue", "email.send", "identity.verify"}
    assert sorted(agent.capabilities["email.send"]["templates"]) == [
        "refund-confirmation", "refund-denied"]
    assert agent.escalate_to == ("manager-agent", "human")
    manager = load_agent(REPO / "agents" / "manager-agent")
    assert manager.capabilities["refunds.issue"] == {"max_amount": 2000}
    assert manager.escalate_to == ("human",)


@pytest.mark.parametrize("name", EXAMPLES)
def test_message_templates_render_host_side(name: str) -> None:
    from siloos.exits.templates import render_template

    values = {"name": "Ada", "order": "A-1001", "item": "kettle", "amount": "$49.99",
              "reason": "the refund window ended."}
    for template in ("refund-confirmation", "refund-denied"):
        subject, body = render_template(REPO / "agents" / name, template, values)
        assert subject and "{{" not in subject and "{{" not in body
        assert "Ada" in body and "A-1001" in body + subject


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_agent_packs(name: str, tmp_path: Path) -> None:
    from siloos.agent.pack import pack_agent

    result = pack_agent(REPO / "agents" / name, tmp_path)
    assert result.path.name == f"{name}-1.0.0.silo"


def shipped_markdown() -> list[Path]:
    roots = [REPO / "agents", REPO / "procedures", REPO / "templates"]
    return sorted(p for root in roots for p in root.rglob("*") if p.suffix in (".md", ".j2"))


def test_no_token_shaped_strings_in_shipped_markdown() -> None:
    # The agent loop sends these files to the model through the membrane, which refuses any
    # token outside the task's scope (and any near-miss); so examples write `ord_tk_…`.
    from siloos.privacy.tokens import find_near_misses, find_tokens

    files = shipped_markdown()
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not find_tokens(text), path
        assert not find_near_misses(text), path


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_main_hands_control_to_the_agent_loop(name: str) -> None:
    import ast

    body = ast.parse((REPO / "agents" / name / "main.py").read_text()).body
    code = [ast.unparse(node) for node in body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert code == ["import silo", "silo.run_agent()"]


def test_example_workflows_lint_clean_strict(repo_ws: Workspace) -> None:
    workflows = sorted((REPO / "workflows").glob("*.yaml"))
    assert workflows, "the repository ships an example workflow"
    assert strict_findings(repo_ws, *workflows) == []
