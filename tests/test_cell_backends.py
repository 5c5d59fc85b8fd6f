"""get_backend fails closed; the unsafe backend warns on every use; the bootstrap; the bench."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from test_cell_support import SDK_DIR, make_agent

from siloos.bench import starts
from siloos.bench.starts import measure_bare_start, measure_cell_start, measure_starts
from siloos.cell import NsjailBackend, UnsafeNoJail, get_backend
from siloos.cell.preflight import InterpreterCheck, KeysCheck, verify_all
from siloos.cell.spec import CellSpec
from siloos.errors import SandboxUnavailable
from siloos.workspace import CellConfig

LIMITS = {"wall_seconds": 5, "memory_mb": 64, "pids": 8, "tmp_mb": 2}


def test_missing_nsjail_refuses_with_exit_5_and_the_doctor_hint(monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    with pytest.raises(SandboxUnavailable) as err:
        get_backend(CellConfig(nsjail="/nonexistent/nsjail"))
    assert err.value.exit_code == 5
    assert "nsjail" in str(err.value) and "silo doctor" in str(err.value)


def test_unreadable_interpreter_refuses(tmp_path, monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    python = private / "python3"  # like the pyenv build under /root: a real file, 0700 above
    python.write_bytes(Path("/usr/bin/python3.11").read_bytes())
    python.chmod(0o755)
    with pytest.raises(SandboxUnavailable, match="cell interpreter"):
        get_backend(CellConfig(interpreter=str(python)))
    result = InterpreterCheck(str(python)).verify()
    assert not result.ok and "not traversable" in result.detail


def test_unsafe_backend_is_only_returned_when_asked():
    assert isinstance(get_backend(CellConfig(nsjail="/nonexistent"), unsafe_no_jail=True),
                      UnsafeNoJail)
    assert UnsafeNoJail.isolates is False and NsjailBackend.isolates is True


def test_unsafe_backend_warns_on_every_run_and_keeps_the_env_clean(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-canary")
    agent = make_agent(tmp_path / "agent", """
        import json, os
        print(json.dumps(sorted(os.environ)))
    """)
    spec = CellSpec(agent_dir=agent, interpreter=sys.executable, uid=200_001,
                    limits=dict(LIMITS), sdk_dir=SDK_DIR, env={"SILO_TASK_ID": "t"})
    for _ in range(2):
        result = asyncio.run(UnsafeNoJail().run(spec))
        assert result.status == "exited", result.stderr
        assert "ANTHROPIC_API_KEY" not in result.stdout
        assert "SILO_TASK_ID" in result.stdout
    assert capfd.readouterr().err.count("WITHOUT a sandbox") == 2


def test_unsafe_backend_times_out(tmp_path):
    agent = make_agent(tmp_path / "agent", "import time\ntime.sleep(30)\n")
    spec = CellSpec(agent_dir=agent, interpreter=sys.executable, uid=200_001,
                    limits={**LIMITS, "wall_seconds": 1}, sdk_dir=SDK_DIR)
    assert asyncio.run(UnsafeNoJail().run(spec)).status == "timeout"


def test_bootstrap_runs_main_as_main_and_reports_exceptions(tmp_path):
    agent = make_agent(tmp_path / "agent", """
        import sys
        import helper
        print(__name__, helper.VALUE, sys.argv[0].endswith("main.py"))
        raise RuntimeError("boom")
    """)
    (agent / "helper.py").write_text("VALUE = 41 + 1\n")
    done = subprocess.run([sys.executable, "-I", "-B", str(SDK_DIR / "bootstrap.py"), str(agent)],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["__main__", "42", "True"]
    assert done.returncode == 1
    assert "RuntimeError: boom" in done.stderr and "Traceback" in done.stderr


def test_bootstrap_keeps_system_exit_codes(tmp_path):
    agent = make_agent(tmp_path / "agent", "raise SystemExit(4)\n")
    done = subprocess.run([sys.executable, "-I", "-B", str(SDK_DIR / "bootstrap.py"), str(agent)],
                          capture_output=True, timeout=30)
    assert done.returncode == 4


def test_empty_check_list_is_refused():
    with pytest.raises(ValueError):
        verify_all([])


@pytest.mark.parametrize("dir_mode,file_mode,ok", [(0o700, 0o600, True), (0o755, 0o600, False),
                                                   (0o700, 0o644, False)])
def test_keys_check(tmp_path, dir_mode, file_mode, ok):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "signing-k1.pem").write_text("k")
    (keys / "signing-k1.pem").chmod(file_mode)
    keys.chmod(dir_mode)
    result = KeysCheck(keys).verify()
    assert result.ok is ok
    if not ok:
        assert "chmod" in result.fix


def test_keys_check_fails_when_missing(tmp_path):
    assert not KeysCheck(tmp_path / "nope").verify().ok


@pytest.mark.jail
def test_bench_reports_percentiles_for_cell_and_bare():
    from test_cell_support import require_jail

    require_jail()
    cell = measure_cell_start(3)
    bare = measure_bare_start(3)
    both = measure_starts(2)
    for figures in (cell, bare, both.cell_start_ms, both.bare_start_ms):
        assert set(figures) == {"p50", "p95"}
        assert 0 < figures["p50"] <= figures["p95"]


def test_jailed_and_bare_starts_are_taken_in_turns(monkeypatch):
    order: list[str] = []

    async def cell_start(server, backend, spec) -> float:
        order.append("cell")
        return 2.0

    async def bare_start(server, interpreter, agent, sock) -> float:
        order.append("bare")
        return 1.0

    monkeypatch.setattr(starts, "_cell_start", cell_start)
    monkeypatch.setattr(starts, "_bare_start", bare_start)
    jailed, bare = asyncio.run(starts._start_samples(3, object(), "/usr/bin/python3",
                                                     bare=True))
    assert order == ["cell", "bare", "bare", "cell", "cell", "bare"]
    assert jailed == [2.0] * 3 and bare == [1.0] * 3
