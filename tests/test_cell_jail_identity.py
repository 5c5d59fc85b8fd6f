"""Who a cell is: its own uid (never 0), no capabilities, no_new_privs, seccomp, own pids, env."""

from __future__ import annotations

import pytest
from test_cell_support import CELL_UID, run_probe

pytestmark = pytest.mark.jail

STATUS_PROBE = """
    import json
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    print(json.dumps(fields))
"""


def test_uid_is_the_agent_uid_inside_and_outside(tmp_path):
    out = run_probe(tmp_path, """
        import json, os
        print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                          "uid_map": open("/proc/self/uid_map").read().split(),
                          "gid_map": open("/proc/self/gid_map").read().split()}))
    """)
    assert out["uid"] == out["euid"] == out["gid"] == CELL_UID
    inside, outside, count = (int(x) for x in out["uid_map"])
    assert (inside, outside, count) == (CELL_UID, CELL_UID, 1)
    assert outside != 0
    assert [int(x) for x in out["gid_map"]] == [CELL_UID, CELL_UID, 1]


def test_no_capabilities_no_new_privs_and_seccomp(tmp_path):
    status = run_probe(tmp_path, STATUS_PROBE)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[cap], 16) == 0, cap
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"


def test_proc_shows_only_the_cells_processes(tmp_path):
    out = run_probe(tmp_path, """
        import json, os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(json.dumps({"pids": pids, "me": os.getpid(),
                          "cmd": open("/proc/1/cmdline", "rb").read().split(b"\\0")[1:3]
                                 .__repr__()}))
    """)
    assert out["pids"] == [1]
    assert out["me"] == 1
    assert "-I" in out["cmd"]


def test_proc_is_read_only(tmp_path):
    out = run_probe(tmp_path, """
        import json
        try:
            open("/proc/sys/kernel/hostname", "w").write("x")
            print(json.dumps({"written": True}))
        except OSError as err:
            print(json.dumps({"written": False, "error": type(err).__name__}))
    """)
    assert out["written"] is False


def test_environment_has_only_silo_variables(tmp_path, monkeypatch):
    canary = "sk-ant-CANARY-do-not-leak-3f9d"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    monkeypatch.setenv("SILO_SIGNING_KEY_PATH", "/work/.silo/keys")  # host SILO_* too
    out = run_probe(tmp_path, """
        import json, os
        initial = [e.split("=", 1)[0] for e in
                   open("/proc/self/environ", "rb").read().decode().split("\\0") if e]
        print(json.dumps({"initial": sorted(initial), "values": sorted(os.environ.values())}))
    """, env={"SILO_TASK_ID": "task_1", "SILO_BASE_KEY": "a.b.c"})
    assert out["initial"] == ["SILO_BASE_KEY", "SILO_TASK_ID", "SILO_TEMP"]
    assert canary not in out["values"]


def test_hostname_is_the_cells_own(tmp_path):
    out = run_probe(tmp_path, """
        import json, socket
        print(json.dumps(socket.gethostname()))
    """)
    assert out == "silo-cell"
