"""`silo lint`: the three output formats and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from siloos.agent.lint import RULES
from siloos.cli.app import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "workspace"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    monkeypatch.chdir(root)
    return root


def silo(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["lint", *args])
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def break_manifest(ws: Path) -> None:
    path = ws / "agents" / "refund-agent" / "AGENT.md"
    path.write_text(path.read_text().replace("  customers.get: {}", "  customers.delete: {}"))


def add_warning_only(ws: Path) -> None:
    path = ws / "agents" / "refund-agent" / "AGENT.md"
    path.write_text(path.read_text().replace("model: claude", "team: payments\nmodel: claude"))


def test_clean_workspace_exits_0(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = silo(capsys, "--strict")
    assert (code, out, err) == (0, "", "")


def test_text_format_and_exit_1(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_manifest(ws)
    code, out, err = silo(capsys, "agents")
    assert code == 1
    assert out.splitlines() == [
        "agents/refund-agent/AGENT.md:9: SILO107 capability 'customers.delete' names no "
        "registered exit (known: customers.compare, customers.get, email.send, "
        "identity.verify, llm, orders.get, orders.list, refunds.issue)"]
    assert err.count("\n") == 1 and "1 error" in err


def test_json_format(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_manifest(ws)
    add_warning_only(ws)
    code, out, _err = silo(capsys, "--format", "json", str(ws / "agents" / "refund-agent"))
    assert code == 1
    items = json.loads(out)
    assert {tuple(sorted(i)) for i in items} == {("line", "message", "path", "rule",
                                                  "severity")}
    assert {(i["rule"], i["severity"]) for i in items} == {("SILO107", "error"),
                                                           ("SILO114", "warning")}
    assert all(i["path"] == "agents/refund-agent/AGENT.md" for i in items)


def test_json_format_when_clean_is_an_empty_list(ws: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = silo(capsys, "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_github_format(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    break_manifest(ws)
    add_warning_only(ws)
    code, out, _err = silo(capsys, "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == ("::error file=agents/refund-agent/AGENT.md,line=10,title=SILO107::"
                        "capability 'customers.delete' names no registered exit (known: "
                        "customers.compare, customers.get, email.send, identity.verify, llm, "
                        "orders.get, orders.list, refunds.issue)")
    assert lines[0].startswith("::warning file=agents/refund-agent/AGENT.md,line=5,"
                               "title=SILO114::unknown frontmatter key 'team'")


def test_warnings_alone_exit_0_unless_strict(ws: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    add_warning_only(ws)
    code, out, _ = silo(capsys)
    assert code == 0 and out.rstrip().endswith("SILO114 unknown frontmatter key 'team' "
                                               "(known: capabilities, description, "
                                               "escalate_to, limits, model, name, version) "
                                               "(warning)")
    code, out, _ = silo(capsys, "--strict")
    assert code == 1 and "(warning)" not in out and "SILO114" in out


def test_missing_path_exits_2(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = silo(capsys, "no/such/agent")
    assert code == 2 and out == ""
    assert err == "silo: error: no/such/agent: no such file or directory\n"


def test_unlintable_file_exits_2(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = silo(capsys, "silo.toml")
    assert code == 2 and "cannot lint" in err


def test_no_path_outside_a_workspace_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = silo(capsys)
    assert code == 2 and "give a PATH" in err


def test_bad_format_is_a_usage_error(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, _err = silo(capsys, "--format", "xml")
    assert code == 2


def test_list_rules(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = silo(capsys, "--list-rules")
    assert code == 0
    ids = re.findall(r"^(SILO\d{3}) ", out, re.M)
    assert ids == [rule.id for rule in RULES]


def test_paths_outside_cwd_stay_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    break_manifest(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = silo(capsys, str(root / "agents"))
    assert code == 1 and out.startswith(f"{root}/agents/refund-agent/AGENT.md:9: SILO107")


def test_console_script_end_to_end(ws: Path) -> None:
    break_manifest(ws)
    silo_bin = Path(sys.executable).parent / "silo"
    proc = subprocess.run([str(silo_bin), "lint", "--format", "json"], cwd=ws,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert [i["rule"] for i in json.loads(proc.stdout)] == ["SILO107"]
    assert "Traceback" not in proc.stderr
