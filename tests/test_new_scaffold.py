"""`silo new agent|procedure`: generated folders lint clean; bad names and overwrites refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from siloos.agent.scaffold import NAME_MAX, check_name, new_agent, new_procedure
from siloos.cli.app import main
from siloos.errors import UsageError
from siloos.exits import Registry
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    init_workspace(tmp_path / "ws")
    return Workspace.load(tmp_path / "ws")


def lint(ws: Workspace, path: Path) -> list[object]:
    from siloos.agent.lint import lint_paths

    return lint_paths([path], registry=Registry.for_workspace(ws), strict=True,
                      workspace_root=ws.root)


def test_new_agent_has_the_design_layout(ws: Workspace) -> None:
    made = new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    agent = ws.agents_dir / "billing-helper"
    rel = sorted(p.relative_to(agent).as_posix() for p in made)
    assert "AGENT.md" in rel and "main.py" in rel
    for folder in ("policies", "procedures", "examples", "templates"):
        assert any(r.startswith(folder + "/") for r in rel), folder
    text = (agent / "AGENT.md").read_text()
    assert text.startswith("---\nname: billing-helper\n")
    assert "version: 0.1.0" in text and "llm: {}" in text and "escalate_to: [human]" in text
    for section in ("## Purpose", "## Capabilities", "## Limitations", "## Escalation"):
        assert section in text
    main_py = (agent / "main.py").read_text()
    assert "import silo" in main_py
    # Thin: it hands control to the SDK's agent loop and imports nothing but `silo`.
    body = ast.parse(main_py).body
    code = [ast.unparse(node) for node in body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert code == ["import silo", "silo.run_agent()"]
    # The message template keeps its placeholders for host-side rendering.
    assert "{{ name }}" in (agent / "templates" / "acknowledgement.md").read_text()


def test_new_agent_manifest_loads(ws: Workspace) -> None:
    from siloos.agent.loader import load_agent

    new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    agent = load_agent(ws.agents_dir / "billing-helper")
    assert agent.name == "billing-helper"
    assert agent.version == "0.1.0"
    assert "llm" in agent.capabilities
    assert agent.escalate_to == ("human",)
    assert agent.limits == ws.config.limits


def test_new_agent_lints_clean_strict(ws: Workspace) -> None:
    new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    assert lint(ws, ws.agents_dir / "billing-helper") == []


def test_new_procedure_lints_clean_strict(ws: Workspace) -> None:
    new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    path = new_procedure(ws.agents_dir / "billing-helper", "close-account")
    assert path == ws.agents_dir / "billing-helper" / "procedures" / "close-account.md"
    assert path.read_text().startswith("---\nname: close-account\n")
    assert lint(ws, ws.agents_dir / "billing-helper") == []


@pytest.mark.parametrize("bad", ["", "Refund", "refund_agent", "-refund", "refund-",
                                 "refund--agent", "refund agent", "../escape", "a/b",
                                 "x" * (NAME_MAX + 1), "réfund"])
def test_bad_names_are_refused(ws: Workspace, bad: str) -> None:
    with pytest.raises(UsageError):
        new_agent(ws.agents_dir, bad, limits=ws.config.limits)
    assert list(ws.agents_dir.iterdir()) == []


def test_good_names_pass() -> None:
    for good in ("a", "refund-agent", "agent-2", "x" * NAME_MAX):
        assert check_name(good) == good


def test_new_agent_refuses_to_overwrite(ws: Workspace) -> None:
    new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    manifest = ws.agents_dir / "billing-helper" / "AGENT.md"
    manifest.write_text("edited by hand")
    with pytest.raises(UsageError, match="refusing to overwrite"):
        new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    assert manifest.read_text() == "edited by hand"


def test_new_procedure_refuses_to_overwrite_and_bad_names(ws: Workspace) -> None:
    new_agent(ws.agents_dir, "billing-helper", limits=ws.config.limits)
    agent = ws.agents_dir / "billing-helper"
    existing = agent / "procedures" / "acknowledge-request.md"
    before = existing.read_text()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        new_procedure(agent, "acknowledge-request")
    assert existing.read_text() == before
    with pytest.raises(UsageError):
        new_procedure(agent, "Bad_Name")
    with pytest.raises(UsageError, match="not an agent folder"):
        new_procedure(ws.procedures_dir, "shared-one")


def test_cli_new_agent_and_procedure(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ws.root)
    with pytest.raises(SystemExit) as done:
        main(["new", "agent", "support-bot"])
    assert done.value.code == 0
    assert "agents/support-bot/AGENT.md" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["new", "procedure", "support-bot", "greet-customer"])
    assert done.value.code == 0
    assert (ws.agents_dir / "support-bot" / "procedures" / "greet-customer.md").is_file()
    with pytest.raises(SystemExit) as bad:
        main(["new", "agent", "Support_Bot"])
    assert bad.value.code == 2
    assert "not valid" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        main(["new", "procedure", "no-such-agent", "greet-customer"])
    assert missing.value.code == 2


def test_cli_new_outside_a_workspace_is_a_usage_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["new", "agent", "support-bot"])
    assert done.value.code == 2
    assert "silo init" in capsys.readouterr().err
