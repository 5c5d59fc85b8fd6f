"""Review of session 3b: the staged SDK's bytecode (siloos/cell/staging.py)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from siloos.cell import staging

SDK = Path(__file__).resolve().parent.parent / "siloos" / "sdk"


def test_a_compile_cut_short_leaves_no_bytecode_and_nothing_writable_by_others(
        tmp_path, monkeypatch):
    # The cell's interpreter compiles the SDK, then hangs past COMPILE_SECONDS (a slow or
    # stuck compile), in a host process whose umask is 0. What it wrote must not end up
    # in the shared /opt/silo with the modes the umask gave it: a world-writable
    # __pycache__ would let any local user put bytecode (unchecked-hash, never compared
    # with its source) into every cell.
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\n/usr/bin/python3 "$@"\nexec sleep 30\n')
    python.chmod(0o755)
    monkeypatch.setattr(staging, "COMPILE_SECONDS", 3)
    old_umask = os.umask(0)
    try:
        sdk = staging.stage_sdk(SDK, str(python))
    finally:
        os.umask(old_umask)
    try:
        assert (sdk / "silo" / "client.py").is_file()
        assert not any(sdk.rglob("__pycache__")), "a cut-short compile's bytecode is kept"
        loose = [str(p) for p in [sdk, *sdk.rglob("*")]
                 if p.lstat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
        assert loose == []
    finally:  # named by an interpreter no other run will use: not left behind
        shutil.rmtree(sdk)
