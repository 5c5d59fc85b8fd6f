"""A cell sees system libraries, its own agent folder, the SDK and /tmp — no host secrets."""

from __future__ import annotations

import os

import pytest
from test_cell_support import make_agent, run_probe

pytestmark = pytest.mark.jail

#: A walk of everything the cell can see outside /proc and the system folders.
WALK_FOR_MARKER = """
    import json, os
    MARKER = {head!r} + {tail!r}  # split: this file itself must not match
    hits = []
    for top in [p for p in os.listdir("/") if p not in ("proc", "usr", "lib", "lib64", "bin")]:
        for dirpath, dirnames, filenames in os.walk("/" + top):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if MARKER in name:
                    hits.append(path)
                    continue
                try:
                    with open(path, "rb") as fh:
                        if MARKER.encode() in fh.read(1 << 20):
                            hits.append(path)
                except OSError:
                    pass
    print(json.dumps({{"hits": hits, "agent": sorted(os.listdir("/agent"))}}))
"""


def walker(marker: str) -> str:
    return WALK_FOR_MARKER.format(head=marker[:6], tail=marker[6:])


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/root", "/work", "/home",
                                  "/var", "/sys", "/run/silo-cells"])
def test_host_paths_do_not_exist_in_the_cell(tmp_path, path):
    out = run_probe(tmp_path, f"""
        import json, os
        print(json.dumps({{"exists": os.path.exists({path!r})}}))
    """)
    assert out == {"exists": False}


def test_root_holds_only_the_cell_view(tmp_path):
    out = run_probe(tmp_path, """
        import json, os
        print(json.dumps({"root": sorted(os.listdir("/")), "etc": sorted(os.listdir("/etc")),
                          "dev": sorted(os.listdir("/dev"))}))
    """)
    assert set(out["root"]) <= {"agent", "bin", "dev", "etc", "lib", "lib32", "lib64", "opt",
                                "proc", "run", "tmp", "usr"}
    assert out["etc"] == ["ld.so.cache"]
    assert out["dev"] == ["null", "urandom"]


def test_other_agents_and_workspace_keys_are_invisible(tmp_path):
    marker = "SILO-SECRET-7f3a9c"
    ws = tmp_path / "ws"
    keys = ws / ".silo" / "keys"
    keys.mkdir(parents=True)
    keys.chmod(0o700)
    (keys / "signing-k1.pem").write_text(f"-----BEGIN PRIVATE KEY----- {marker}\n")
    (keys / "signing-k1.pem").chmod(0o600)
    other = make_agent(ws / "agents" / "other-agent", "print('other')\n")
    (other / f"notes-{marker}.md").write_text(f"other agent's private notes {marker}\n")
    mine = make_agent(ws / "agents" / "my-agent", walker(marker))
    # Control: the same walk does find the marker in this agent's own folder.
    (mine / "own.md").write_text(f"my own notes {marker}\n")
    out = run_probe(tmp_path, "", agent_dir=mine)
    assert out["hits"] == ["/agent/own.md"]
    assert out["agent"] == ["main.py", "own.md"]


def test_symlink_in_agent_folder_is_not_followed(tmp_path):
    marker = "SILO-HOST-FILE-91b2"
    secret = tmp_path / "host-secret.txt"
    secret.write_text(marker)
    agent = make_agent(tmp_path / "agent", walker(marker))
    os.symlink(secret, agent / "link.txt")
    os.symlink("/etc", agent / "etc-link")
    out = run_probe(tmp_path, "", agent_dir=agent)
    assert out["hits"] == []
    assert out["agent"] == ["main.py"]


def test_agent_folder_and_sdk_are_mounted(tmp_path):
    out = run_probe(tmp_path, """
        import json, os
        print(json.dumps({"main": os.path.isfile("/agent/main.py"),
                          "bootstrap": os.path.isfile("/opt/silo/bootstrap.py"),
                          "cwd": os.getcwd()}))
    """)
    assert out == {"main": True, "bootstrap": True, "cwd": "/tmp"}
