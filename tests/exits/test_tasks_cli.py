"""`silo tasks` / `silo show`: the §10 JSON shapes over a real store, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from siloos.store import StateStore

SILO = str(Path(sys.executable).parent / "silo")


def _silo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SILO, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_tasks_and_show_print_the_design_shapes(tmp_path: Path) -> None:
    (tmp_path / "silo.toml").write_text("")
    (tmp_path / ".silo").mkdir()
    store = StateStore.open(tmp_path / ".silo" / "state.db")
    task_id = store.create_task(agent="refund-agent", input={"message": "hi"}, state="running")
    store.start_hop(task_id, 1, "refund-agent", "a" * 32)
    store.revoke("a" * 32, task_id=task_id, hop=1, reason="hop ended")
    store.finish_hop(task_id, 1, status=400, summary={"reason": "needs a person"})
    store.set_state(task_id, "waiting_human", "needs a person")
    store.close()

    listed = _silo(tmp_path, "tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [set(r) for r in rows] == [{"task_id", "state", "agent", "workflow", "reason",
                                       "created_at", "updated_at"}]
    assert rows[0]["state"] == "waiting_human"
    assert json.loads(_silo(tmp_path, "tasks", "--json", "--state", "done").stdout) == []

    shown = _silo(tmp_path, "show", task_id, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert set(data) == {"task_id", "state", "reason", "hops", "events"}
    assert set(data["hops"][0]) == {"hop", "agent", "status", "summary", "output", "key_jti",
                                    "started_at", "ended_at", "stdout", "stderr"}
    revoked = [e for e in data["events"] if e["kind"] == "key_revoked"]
    assert revoked and revoked[0]["jti"] == "a" * 32 and revoked[0]["hop"] == 1

    text = _silo(tmp_path, "show", task_id)
    assert "waiting_human" in text.stdout and "key_revoked" in text.stdout


def test_unknown_task_and_no_store_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "silo.toml").write_text("")
    missing = _silo(tmp_path, "tasks")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no task store" in missing.stderr
    (tmp_path / ".silo").mkdir()
    StateStore.open(tmp_path / ".silo" / "state.db").close()
    unknown = _silo(tmp_path, "show", "task_nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "silo: error: no task 'task_nope'"
    assert "Traceback" not in unknown.stderr
    bad_state = _silo(tmp_path, "tasks", "--state", "bogus")
    assert bad_state.returncode == 2 and "Traceback" not in bad_state.stderr
