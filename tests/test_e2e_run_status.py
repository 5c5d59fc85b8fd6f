"""`silo run` end to end (design §10): exit codes, the `--json` shape, key revocation,
packs, invalid manifests and a sandbox that cannot be built — all through the real CLI,
the router, the membrane and real nsjail cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_e2e_support import HOP_KEYS, RUN_KEYS, make_workspace, refunds_for, run_json, silo

from siloos.backoffice import BackOffice
from siloos.store import StateStore
from siloos.workspace import Workspace

pytestmark = pytest.mark.jail

CUSTOMER = "C-1001"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("e2e-status"))


def behave(ws: Workspace, plan: str, expect: int) -> dict:
    _, data = run_json(ws.root, "agents/e2e-behave", "--customer", CUSTOMER,
                       "--input", json.dumps({"plan": plan}), expect=expect)
    return data


def shown(ws: Workspace, task_id: str) -> dict:
    with StateStore.open(ws.state_db) as store:
        return store.show(task_id)


def task_count(ws: Workspace) -> int:
    with StateStore.open(ws.state_db) as store:
        return len(store.list_tasks())


def all_refunds(ws: Workspace) -> list[dict]:
    with BackOffice.open(ws.backoffice_db) as office:
        return office.refunds()


def assert_one_line_error(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("plan", "code", "status", "state"), [
    ("done", 0, 200, "done"),
    ("human", 3, 400, "waiting_human"),
    ("escalate", 3, 301, "waiting_human"),
    ("abort", 4, 500, "aborted"),
])
def test_exit_code_follows_the_final_status(ws: Workspace, plan: str, code: int, status: int,
                                            state: str) -> None:
    data = behave(ws, plan, code)
    assert data["status"] == status
    assert data["state"] == state
    assert shown(ws, data["task_id"])["state"] == state
    assert [h["status"] for h in data["hops"]] == [status]
    if plan == "escalate":
        assert data["redirect"] == "human"
    else:
        assert data["output"] == {"seen_plan": plan}


def test_json_shape_and_the_task_key_is_revoked(ws: Workspace) -> None:
    data = behave(ws, "done", 0)
    assert set(data) - {"state"} == RUN_KEYS
    assert data["agent"] == "e2e-behave" and data["redirect"] is None
    assert data["summary"] == {"plan": "done"}
    (hop,) = data["hops"]
    assert set(hop) == HOP_KEYS
    assert hop["hop"] == 1 and hop["agent"] == "e2e-behave" and hop["status"] == 200
    assert hop["started_at"] <= hop["ended_at"]
    assert data["stdout"] == hop["stdout"] and data["stderr"] == hop["stderr"]
    # The audit events are this task's membrane requests: task, then finish.
    assert [(e["op"], e["ok"]) for e in data["events"]] == [("task", True), ("finish", True)]
    assert {e["task_id"] for e in data["events"]} == {data["task_id"]}
    events = shown(ws, data["task_id"])["events"]
    revoked = [e for e in events if e["kind"] == "key_revoked"]
    assert revoked == [{**revoked[0], "jti": hop["key_jti"], "hop": 1}]
    with StateStore.open(ws.state_db) as store:
        assert store.is_revoked(hop["key_jti"])


def test_a_cell_past_its_wall_time_is_a_timeout(ws: Workspace) -> None:
    _, data = run_json(ws.root, "agents/e2e-sleeper", "--customer", CUSTOMER, expect=4)
    assert data["status"] == "timeout"
    assert data["state"] == "failed"
    assert "wall time" in data["summary"]["reason"]
    (hop,) = data["hops"]
    assert hop["status"] == "timeout"
    events = shown(ws, data["task_id"])["events"]
    assert [e["jti"] for e in events if e["kind"] == "key_revoked"] == [hop["key_jti"]]


def test_a_cell_that_crashes_without_finishing_fails_the_task(ws: Workspace) -> None:
    data = behave(ws, "crash", 4)
    assert data["status"] == "killed"
    assert data["state"] == "failed"
    assert "without finishing" in data["summary"]["reason"]
    assert "crashes on purpose" in data["stderr"]
    assert data["hops"][0]["status"] == "killed"


def test_a_pack_runs_like_its_folder(ws: Workspace, tmp_path: Path) -> None:
    packed = silo(ws.root, "pack", "agents/e2e-behave", "-o", str(tmp_path))
    assert packed.returncode == 0, packed.stderr
    pack = Path(packed.stdout.split()[0])
    assert pack.is_file() and pack.suffix == ".silo"
    data = run_json(ws.root, str(pack), "--customer", CUSTOMER,
                    "--input", json.dumps({"plan": "done"}), expect=0)[1]
    assert data["agent"] == "e2e-behave" and data["status"] == 200
    # Once more from the same pack (its unpacked copy is reused).
    data = run_json(ws.root, str(pack), "--customer", CUSTOMER,
                    "--input", json.dumps({"plan": "abort"}), expect=4)[1]
    assert data["status"] == 500


def _bad_agent(ws: Workspace, name: str, manifest: str) -> Path:
    folder = ws.agents_dir / name
    folder.mkdir()
    (folder / "AGENT.md").write_text(manifest, encoding="utf-8")
    (folder / "main.py").write_text("import silo\nsilo.finish(200)\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "manifest", "needle"), [
    ("bad-frontmatter", "---\nname: bad-frontmatter\ndescription: [unclosed\n---\n# x\n",
     "AGENT.md"),
    ("unknown-exit", "---\nname: unknown-exit\ndescription: Uses an exit nobody made.\n"
     "version: 1.0.0\ncapabilities:\n  teleport.now: {}\n---\n# x\n", "teleport.now"),
])
def test_an_invalid_manifest_is_refused_in_one_line(ws: Workspace, name: str, manifest: str,
                                                    needle: str) -> None:
    folder = _bad_agent(ws, name, manifest)
    before = task_count(ws)
    proc = silo(ws.root, "run", str(folder), "--customer", CUSTOMER, "--json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, needle)
    assert task_count(ws) == before


@pytest.mark.parametrize("args", [
    ["agents/no-such-agent"],
    ["agents/e2e-behave", "--input", "{not json"],
    ["agents/e2e-behave", "--input", "[1, 2]"],
    ["agents/e2e-behave", "--customer", "C-NOBODY"],
])
def test_bad_input_is_a_usage_error(ws: Workspace, args: list[str]) -> None:
    before = task_count(ws)
    proc = silo(ws.root, "run", *args)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr)
    assert task_count(ws) == before


def test_no_sandbox_fails_closed_and_the_agent_never_runs(ws: Workspace) -> None:
    args = ["run", "agents/e2e-behave", "--customer", CUSTOMER,
            "--input", json.dumps({"plan": "refund"}), "--json"]
    before, refunds_before = task_count(ws), all_refunds(ws)
    proc = silo(ws.root, *args, env={"SILO_NSJAIL": "/nonexistent/nsjail"})
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, "nsjail", "/nonexistent/nsjail", "silo doctor")
    # Nothing ran: no task was created and the back office issued no refund.
    assert task_count(ws) == before
    assert all_refunds(ws) == refunds_before
    # The same command with a sandbox does cause the side effect, so its absence above
    # means the agent never ran.
    data = run_json(ws.root, *args[1:-1], expect=0)[1]
    refunds = refunds_for(ws, data["task_id"])
    assert len(refunds) == 1 and float(refunds[0]["amount"]) == 1.0
