"""Staging copies only regular files with fixed modes; output capture caps and marks."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from siloos.cell import staging
from siloos.cell.output import read_capped
from siloos.cell.spec import TRUNCATION_MARKER
from siloos.errors import InputError, SandboxUnavailable

SDK = Path(__file__).resolve().parent.parent / "siloos" / "sdk"


def test_copy_keeps_regular_files_and_drops_links_fifos_and_caches(tmp_path):
    src = tmp_path / "agent"
    (src / "policies").mkdir(parents=True)
    (src / "main.py").write_text("print(1)\n")
    (src / "policies" / "refunds.md").write_text("# rules\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_bytes(b"\0")
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, src / "link.txt")
    os.symlink(tmp_path, src / "dirlink")
    os.mkfifo(src / "pipe")
    (src / "main.py").chmod(0o600)
    dst = tmp_path / "out"
    staging.copy_tree(src, dst)
    found = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    assert found == ["main.py", "policies", "policies/refunds.md"]
    assert stat.S_IMODE((dst / "main.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((dst / "policies").stat().st_mode) == 0o755


def test_oversized_agent_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_STAGED_FILES", 3)
    src = tmp_path / "agent"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.md").write_text("x")
    with pytest.raises(InputError, match="too large"):
        staging.copy_tree(src, tmp_path / "out")


def test_stage_refuses_a_folder_without_main_py(tmp_path):
    (tmp_path / "agent").mkdir()
    with pytest.raises(InputError, match=r"main\.py"):
        staging.stage(tmp_path / "agent", SDK, None, 200_001)


def test_stage_refuses_a_socket_that_is_not_a_socket(tmp_path, monkeypatch):
    root = tmp_path / "staging"
    root.mkdir(mode=0o711)
    monkeypatch.setattr(staging, "staging_root", lambda: root)
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "main.py").write_text("")
    (tmp_path / "fake.sock").write_text("")
    with pytest.raises(SandboxUnavailable, match="not a unix socket"):
        staging.stage(agent, SDK, tmp_path / "fake.sock", 200_001)
    assert list(root.glob("cell-*")) == []  # no run folder left behind


def test_staged_run_is_traverse_only_and_removed(tmp_path):
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "main.py").write_text("")
    run = staging.stage(agent, SDK, None, 200_001)
    try:
        assert stat.S_IMODE(run.folder.stat().st_mode) == 0o711
        assert stat.S_IMODE(staging.staging_root().stat().st_mode) == 0o711
        assert (run.sdk_dir / "bootstrap.py").is_file()
    finally:
        run.remove()
    assert not run.folder.exists()


def test_reachable_by(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "f").write_text("")
    assert not staging.reachable_by(private / "f", 200_001)
    private.chmod(0o711)
    assert staging.reachable_by(private / "f", 200_001) == \
        all(p.stat().st_mode & stat.S_IXOTH for p in private.parents)


def _stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_read_capped_keeps_the_head_and_counts_the_rest():
    async def go():
        return await read_capped(_stream(b"a" * 100_000), 10)
    assert asyncio.run(go()) == "a" * 10 + TRUNCATION_MARKER.format(dropped=99_990)


def test_read_capped_under_the_cap_is_untouched_and_lenient():
    async def go():
        return await read_capped(_stream(b"ok \xff\n"), 100)
    assert asyncio.run(go()) == "ok \ufffd\n"


def test_the_sdk_copy_holds_bytecode_compiled_by_the_cell_interpreter():
    import importlib.util
    import subprocess
    import sys

    interpreter = "/usr/bin/python3"
    sdk = staging.stage_sdk(SDK, interpreter)
    assert sdk != staging.stage_sdk(SDK), "the bytecode's interpreter names the copy"
    tag = subprocess.run([interpreter, "-I", "-c", "import sys; print(sys.implementation."
                          "cache_tag)"], capture_output=True, text=True, check=True).stdout
    sources = sorted(p.relative_to(sdk) for p in sdk.rglob("*.py"))
    assert sources, "the SDK has modules"
    for source in sources:
        pyc = sdk / source.parent / "__pycache__" / f"{source.stem}.{tag.strip()}.pyc"
        assert pyc.is_file(), pyc
        assert stat.S_IMODE(pyc.stat().st_mode) == 0o644
        head = pyc.read_bytes()[:8]
        assert int.from_bytes(head[4:8], "little") == 0b01  # hash-based, not re-checked
        if sys.implementation.cache_tag == tag.strip():
            assert head[:4] == importlib.util.MAGIC_NUMBER


def test_an_interpreter_that_cannot_compile_leaves_a_copy_without_bytecode(tmp_path):
    sdk = staging.stage_sdk(SDK, str(tmp_path / "no-such-python"))
    try:
        assert (sdk / "silo" / "client.py").is_file()
        assert not any(sdk.rglob("*.pyc"))
    finally:  # named by an interpreter no other run will use: not left behind
        shutil.rmtree(sdk)
