"""Resource attacks from inside a real cell: fork bomb, memory bomb, wall time, disk, files."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
from test_cell_support import (
    INTERPRETER,
    SDK_DIR,
    SMALL_LIMITS,
    make_agent,
    require_jail,
    run_cell,
    run_probe,
)

from siloos.cell.nsjail import NsjailBackend
from siloos.cell.spec import TRUNCATION_MARKER, CellSpec

pytestmark = pytest.mark.jail


def test_fork_bomb_is_contained_by_the_pids_limit(tmp_path):
    out = run_probe(tmp_path, """
        import json, os, signal
        children = 0
        error = None
        for _ in range(10_000):
            try:
                pid = os.fork()
            except OSError as err:
                error = type(err).__name__
                break
            if pid == 0:
                signal.pause()  # stay alive, holding a pid
                os._exit(0)
            children += 1
        print(json.dumps({"children": children, "error": error}))
    """, limits={"pids": 12})
    assert out["error"] == "BlockingIOError"  # EAGAIN from the pids cgroup
    assert out["children"] < 12
    # The host still creates processes.
    assert subprocess.run(["/usr/bin/true"], check=False).returncode == 0


def test_memory_bomb_is_killed_by_the_memory_limit(tmp_path):
    result = run_cell(tmp_path, """
        import sys
        hoard = []
        while True:
            hoard.append(bytearray(4 << 20))  # touched: zero-filled pages are charged
            print(len(hoard) * 4, flush=True)
    """, limits={"memory_mb": 64})
    assert result.status == "oom", (result.status, result.stderr, result.jail_log[-500:])
    reached_mb = int(result.stdout.split()[-1])
    assert reached_mb <= 64


def test_memory_bomb_in_one_allocation_is_refused(tmp_path):
    result = run_cell(tmp_path, """
        try:
            blob = bytearray(2 << 30)
            print("allocated")
        except MemoryError:
            print("refused")
    """, limits={"memory_mb": 64})
    # Either the address-space rlimit refuses it, or the cgroup OOM-kills the cell.
    assert (result.status, result.stdout.strip()) in {("exited", "refused"), ("oom", "")}


def test_sleep_past_wall_time_is_a_timeout(tmp_path):
    result = run_cell(tmp_path, """
        import time
        print("sleeping", flush=True)
        time.sleep(60)
        print("woke up")
    """, limits={"wall_seconds": 2})
    assert result.status == "timeout"
    assert result.stdout.strip() == "sleeping"
    assert result.wall_ms < 60_000


def test_busy_loop_past_wall_time_is_a_timeout(tmp_path):
    result = run_cell(tmp_path, "while True:\n    pass\n", limits={"wall_seconds": 2})
    assert result.status == "timeout"


def test_full_tmpfs_gives_enospc_at_tmp_mb(tmp_path):
    out = run_probe(tmp_path, """
        import errno, json
        written = 0
        code = None
        with open("/tmp/fill", "wb") as fh:
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
                    written += 65536
            except OSError as err:
                code = errno.errorcode.get(err.errno)
        print(json.dumps({"written": written, "errno": code}))
    """, limits={"tmp_mb": 4, "fsize_mb": 64})
    assert out["errno"] == "ENOSPC"
    assert 3 * 1024 * 1024 <= out["written"] <= 4 * 1024 * 1024


def test_many_small_files_fill_tmpfs_too(tmp_path):
    out = run_probe(tmp_path, """
        import errno, json, os
        count = 0
        code = None
        try:
            while count < 100_000:
                with open(f"/tmp/f{count}", "wb") as fh:
                    fh.write(b"x")
                count += 1
        except OSError as err:
            code = errno.errorcode.get(err.errno)
        print(json.dumps({"count": count, "errno": code}))
    """, limits={"tmp_mb": 2})
    assert out["errno"] == "ENOSPC"
    assert out["count"] <= 2 * 256  # one page each: about tmp_mb worth, never unbounded


def test_big_file_is_stopped_by_rlimit_fsize(tmp_path):
    out = run_probe(tmp_path, """
        import errno, json
        written = 0
        code = None
        with open("/tmp/big", "wb", buffering=0) as fh:
            try:
                while True:
                    written += fh.write(b"x" * 65536)
            except OSError as err:
                code = errno.errorcode.get(err.errno)
        print(json.dumps({"written": written, "errno": code}))
    """, limits={"tmp_mb": 8, "fsize_mb": 1})
    assert out == {"written": 1024 * 1024, "errno": "EFBIG"}


def test_open_files_are_limited(tmp_path):
    out = run_probe(tmp_path, """
        import errno, json
        handles = []
        code = None
        try:
            while len(handles) < 10_000:
                handles.append(open("/dev/null"))
        except OSError as err:
            code = errno.errorcode.get(err.errno)
        print(json.dumps({"opened": len(handles), "errno": code}))
    """, limits={"nofile": 32})
    assert out["errno"] == "EMFILE"
    assert out["opened"] < 32


def test_output_is_capped_with_a_marker(tmp_path):
    result = run_cell(tmp_path, """
        import sys
        sys.stdout.write("y" * 1_000_000)
        sys.stderr.write("e" * 10)
    """, output_cap=4096)
    assert result.status == "exited"
    assert result.stdout.startswith("y" * 4096)
    assert result.stdout.endswith(TRUNCATION_MARKER.format(dropped=1_000_000 - 4096))
    assert result.stderr == "e" * 10


def test_uncaught_exception_exits_1_with_traceback(tmp_path):
    result = run_cell(tmp_path, "raise ValueError('agent broke')\n")
    assert (result.status, result.exit_code) == ("exited", 1)
    assert "Traceback" in result.stderr
    assert "ValueError: agent broke" in result.stderr


def test_exit_code_is_passed_through(tmp_path):
    result = run_cell(tmp_path, "import sys\nsys.exit(3)\n")
    assert (result.status, result.exit_code) == ("exited", 3)


def _live_processes_of(uid: int) -> list[int]:
    """Host pids running as `uid`, zombies excluded (dead, waiting to be reaped)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in
                          open(f"/proc/{entry}/status").read().splitlines() if ":" in line)
        except OSError:
            continue
        if fields["Uid"].split()[0] == str(uid) and not fields["State"].strip().startswith("Z"):
            live.append(int(entry))
    return live


def test_cancelled_run_leaves_no_process_behind(tmp_path):
    require_jail()
    uid = 203_311
    agent = make_agent(tmp_path / "agent", """
        import os, time
        if os.fork() == 0:
            time.sleep(120)
        time.sleep(120)
    """)
    spec = CellSpec(agent_dir=agent, interpreter=INTERPRETER, uid=uid,
                    limits={**SMALL_LIMITS, "wall_seconds": 60}, sdk_dir=SDK_DIR)

    async def start_then_cancel():
        run = asyncio.ensure_future(NsjailBackend(interpreter=INTERPRETER).run(spec))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(_live_processes_of(uid)) == 2:
                break
        assert len(_live_processes_of(uid)) == 2, "the cell never started"
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(start_then_cancel())
    assert _live_processes_of(uid) == []
