"""`silo demo`: init → new → lint → pack in a temporary workspace, said in plain lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from siloos.cli.app import main
from siloos.cli.demo import run_demo


def test_run_demo_walks_through_every_step(tmp_path: Path) -> None:
    lines: list[str] = []
    pack = run_demo(tmp_path, say=lines.append)
    assert pack.is_file() and pack.name == "hello-agent-0.1.0.silo"
    text = "\n".join(lines)
    for step in ("silo init", "silo new agent hello-agent", "silo lint --strict", "silo pack",
                 "sha256 "):
        assert step in text
    assert "the same bytes" in text


def test_demo_command_cleans_up(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["demo"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "no findings" in out and "removed" in out
