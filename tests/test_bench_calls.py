"""The bench's membrane hop, canned-reply server, timing client and percentile rule.

Figures are only checked for shape here — timing targets belong to `silo bench`, not unit
tests. The timing client runs exactly as in a cell (bootstrap, the SDK, args.json beside
main.py), only without the jail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from siloos.bench.agents import TIMING_MAIN
from siloos.bench.echo import CannedReplyServer, serve_in_thread
from siloos.bench.hop import BenchHop, bench_hop
from siloos.bench.host_calls import hop_client, measure_echo_floor, measure_membrane_call
from siloos.bench.stats import percentile, percentiles
from siloos.sdk import SDK_DIR


def test_membrane_call_and_echo_floor_have_the_shape_of_section_14():
    for figures in (measure_membrane_call(30), measure_echo_floor(30)):
        assert set(figures) == {"p50", "p99"}
        assert 0 < figures["p50"] <= figures["p99"]


def test_bench_hop_calls_are_audited_and_really_run(tmp_path):
    with bench_hop(tmp_path, 5) as hop, hop_client(hop) as client:
        assert client.call(hop.tool, **hop.args) == {"match": True}
        rows = hop.membrane.store.audit_events(hop.task_id)
    assert rows[-1]["ok"] is True and rows[-1]["tool"] == "identity.verify"


def _timing_agent(folder: Path, args: object) -> Path:
    folder.mkdir()
    shutil.copyfile(TIMING_MAIN, folder / "main.py")
    (folder / "args.json").write_text(json.dumps(args))
    return folder


def _run_timing(agent: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-B", str(SDK_DIR / "bootstrap.py"),
                           str(agent)], env=env, capture_output=True, text=True, timeout=60)


def _hop_env(hop: BenchHop, tmp: Path) -> dict[str, str]:
    return {**hop.env(), "SILO_TEMP": str(tmp)}


def test_timing_agent_runs_like_a_cell_against_the_membrane(tmp_path):
    with bench_hop(tmp_path / "hop", 40) as hop:
        agent = _timing_agent(tmp_path / "agent", [10, hop.tool, json.dumps(hop.args)])
        proc = _run_timing(agent, _hop_env(hop, tmp_path))
        audited = hop.membrane.store.audit_events(hop.task_id)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 10 and result["failed"] == 0
    assert len(result["samples_us"]) == 10 and all(s > 0 for s in result["samples_us"])
    # Warm-up and timed requests were all real, audited calls.
    assert sum(1 for row in audited if row["tool"] == hop.tool and row["ok"]) >= 10 + 20


def test_timing_agent_counts_refusals_instead_of_hiding_them(tmp_path):
    with bench_hop(tmp_path / "hop", 40) as hop:
        wrong = {**hop.args, "token": "email_tk_" + "0" * 16}  # not in this task's scope
        agent = _timing_agent(tmp_path / "agent", [5, hop.tool, json.dumps(wrong)])
        proc = _run_timing(agent, _hop_env(hop, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["failed"] == 5


@pytest.mark.parametrize("args", [[], {"n": 3}, ["x"], [3, "t", "[1]"], [3, "t", "{bad"]])
def test_timing_agent_refuses_bad_args(tmp_path, args):
    agent = _timing_agent(tmp_path / "agent", args)
    proc = _run_timing(agent, {"SILO_MEMBRANE": str(tmp_path / "none.sock"),
                               "SILO_TEMP": str(tmp_path)})
    assert proc.returncode == 2 and "bad args.json" in proc.stderr


def _exchange(path: Path, lines: int) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        reader = sock.makefile("rb")
        replies = []
        for _ in range(lines):
            sock.sendall(b'{"op": "task"}\n')
            replies.append(json.loads(reader.readline()))
        return replies


def test_canned_reply_server_numbers_replies_per_connection(tmp_path):
    path = tmp_path / "echo.sock"
    with serve_in_thread(path, b'{"k":[1]}'):
        first, second = _exchange(path, 3), _exchange(path, 2)
    assert [r["id"] for r in first] == [1, 2, 3] and [r["id"] for r in second] == [1, 2]
    assert all(r["ok"] is True and r["result"] == {"k": [1]} for r in first + second)
    assert not path.exists()


def test_canned_reply_server_notes_when_it_answered(tmp_path):
    async def scenario() -> tuple[float, list[dict]]:
        async with CannedReplyServer(tmp_path / "s.sock") as server:
            answered = server.expect()
            replies = await asyncio.to_thread(_exchange, tmp_path / "s.sock", 1)
            return await asyncio.wait_for(answered, 10), replies

    when, replies = asyncio.run(scenario())
    assert when > 0 and replies == [{"id": 1, "ok": True, "result": {}}]


def test_percentiles_are_nearest_rank():
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.5) == 50 and percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100 and percentile([7.0], 0.95) == 7
    assert percentiles([3.0, 1.0, 2.0], {"p50": 0.5, "p95": 0.95}, 2) == {"p50": 2.0, "p95": 3.0}


@pytest.mark.parametrize("samples,fraction", [([], 0.5), ([1.0], 0), ([1.0], 1.5)])
def test_percentile_refuses_what_it_cannot_rank(samples, fraction):
    with pytest.raises(ValueError):
        percentile(samples, fraction)


@pytest.mark.parametrize("n", [1, 7, 20, 100, 2000])
@pytest.mark.parametrize("fraction", [0.01, 0.07, 0.5, 0.95, 0.99, 1.0])
def test_percentile_is_the_smallest_sample_covering_the_fraction(n, fraction):
    samples = [float(i) for i in range(1, n + 1)]
    value = percentile(samples, fraction)
    at_or_below = sum(1 for s in samples if s <= value)
    assert at_or_below >= fraction * n - 1e-9
    assert at_or_below - 1 < fraction * n - 1e-9 or value == samples[0]
