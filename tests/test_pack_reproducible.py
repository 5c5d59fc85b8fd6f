"""`silo pack`: the same folder always packs to the same bytes, with normalised members."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from siloos.agent.pack import agent_digest, pack_agent
from siloos.agent.scaffold import new_agent
from siloos.cli.app import main
from siloos.errors import CheckFailed
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    new_agent(ws.agents_dir, "pack-me", limits=ws.config.limits)
    (ws.agents_dir / "pack-me" / "tools.py").write_text('"""Helpers."""\n\nX = 1\n')
    return ws


def copy_in_order(src: Path, dst: Path, *, reverse: bool, mtime: int) -> None:
    """Recreate `src` at `dst`, creating entries in the given order with the given mtimes."""
    files = sorted((p for p in src.rglob("*") if p.is_file()), reverse=reverse)
    for f in files:
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
        os.chmod(target, 0o600 if reverse else 0o755)
        os.utime(target, (mtime, mtime))
    for d in sorted((p for p in dst.rglob("*") if p.is_dir()), reverse=reverse):
        os.utime(d, (mtime, mtime))


def test_two_copies_made_differently_pack_to_the_same_bytes(ws: Workspace,
                                                            tmp_path: Path) -> None:
    src = ws.agents_dir / "pack-me"
    one = ws.agents_dir / "copies-a" / "pack-me"
    two = ws.agents_dir / "copies-b" / "pack-me"
    copy_in_order(src, one, reverse=False, mtime=1_000_000)
    copy_in_order(src, two, reverse=True, mtime=2_000_000_000)
    a = pack_agent(one, tmp_path / "out-a")
    b = pack_agent(two, tmp_path / "out-b")
    assert a.path.name == b.path.name == "pack-me-0.1.0.silo"
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()
    assert agent_digest(one) == a.sha256


def test_repacking_after_touching_files_gives_the_same_bytes(ws: Workspace,
                                                             tmp_path: Path) -> None:
    agent = ws.agents_dir / "pack-me"
    first = pack_agent(agent, tmp_path / "first").path.read_bytes()
    for p in agent.rglob("*"):
        os.utime(p, (123, 456))
    assert pack_agent(agent, tmp_path / "second").path.read_bytes() == first


def test_content_change_changes_the_digest(ws: Workspace) -> None:
    agent = ws.agents_dir / "pack-me"
    before = agent_digest(agent)
    with (agent / "policies" / "scope.md").open("a") as fh:
        fh.write("- One more rule.\n")
    assert agent_digest(agent) != before


def test_members_are_normalised(ws: Workspace, tmp_path: Path) -> None:
    agent = ws.agents_dir / "pack-me"
    (agent / "__pycache__").mkdir()
    (agent / "__pycache__" / "tools.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (agent / "stale.pyc").write_bytes(b"\x00")
    (agent / ".DS_Store").write_bytes(b"junk")
    (agent / ".hidden").mkdir()
    (agent / ".hidden" / "notes.md").write_text("private notes")
    result = pack_agent(agent, tmp_path)
    raw = result.path.read_bytes()
    # gzip header: magic, method, flags (no FNAME), mtime 0.
    assert raw[:3] == b"\x1f\x8b\x08"
    assert raw[3] & 0x08 == 0, "gzip header must carry no file name"
    assert raw[4:8] == b"\x00\x00\x00\x00", "gzip header mtime must be 0"
    with tarfile.open(fileobj=gzip.GzipFile(fileobj=__import__("io").BytesIO(raw))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "pack-me"
    assert all(n == "pack-me" or n.startswith("pack-me/") for n in names)
    assert "pack-me/AGENT.md" in names and "pack-me/tools.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "/." in n]
    for m in members:
        assert m.mtime == 0 and m.uid == 0 and m.gid == 0
        assert m.uname == "" and m.gname == ""
        assert m.isdir() or m.isfile()
        assert m.mode == (0o755 if m.isdir() else 0o644)
    # Sorted: every member's path parts come after the previous one's.
    parts = [tuple(n.split("/")) for n in names]
    assert parts == sorted(parts)


def test_pack_default_output_is_cwd_and_cli_prints_path_and_sha(
        ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cwd"
    out.mkdir()
    monkeypatch.chdir(out)
    with pytest.raises(SystemExit) as done:
        main(["pack", str(ws.agents_dir / "pack-me")])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    pack = out / "pack-me-0.1.0.silo"
    assert pack.is_file()
    assert lines[0].endswith("pack-me-0.1.0.silo")
    assert lines[1] == f"sha256 {hashlib.sha256(pack.read_bytes()).hexdigest()}"


def test_pack_with_output_option(ws: Workspace, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["pack", str(ws.agents_dir / "pack-me"), "-o", str(tmp_path / "o"), "--json"])
    assert done.value.code == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert Path(shown["path"]) == tmp_path / "o" / "pack-me-0.1.0.silo"
    assert shown["sha256"] == hashlib.sha256(Path(shown["path"]).read_bytes()).hexdigest()


def test_packing_outside_a_workspace_uses_builtin_exits(ws: Workspace, tmp_path: Path) -> None:
    lone = tmp_path / "lone" / "pack-me"
    shutil.copytree(ws.agents_dir / "pack-me", lone)
    assert pack_agent(lone, tmp_path / "o").path.is_file()


def test_workspace_service_exits_are_known_to_pack(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "exits" / "tickets.py").write_text(
        "from siloos.exits import exit\n\n\n"
        "@exit('tickets.create', constraints={'max_priority': ('priority', '<=')})\n"
        "def create(ctx, title: str, priority: int) -> dict:\n"
        "    return {'ticket': 'T-1'}\n")
    config = (ws.root / "silo.toml").read_text().replace("modules = []",
                                                        'modules = ["exits.tickets"]')
    (ws.root / "silo.toml").write_text(config)
    manifest = ws.agents_dir / "pack-me" / "AGENT.md"
    manifest.write_text(manifest.read_text().replace(
        "  llm: {}\n", "  llm: {}\n  tickets.create: {max_priority: 2}\n"))
    result = pack_agent(ws.agents_dir / "pack-me", tmp_path / "o")
    assert result.sha256 == agent_digest(ws.agents_dir / "pack-me")
    # Outside that workspace the same exit is unknown: packing refuses (fail closed).
    lone = tmp_path / "lone" / "pack-me"
    shutil.copytree(ws.agents_dir / "pack-me", lone)
    with pytest.raises(CheckFailed, match="lint error"):
        pack_agent(lone, tmp_path / "o2")
