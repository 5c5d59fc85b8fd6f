"""The membrane benchmarks measure real calls (never refusals) and the echo floor; figures
are only checked for shape here — timing targets belong to `silo bench`, not unit tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from siloos.membrane.bench import bench_hop, measure_echo_floor, measure_membrane_call

SDK_DIR = Path(__file__).resolve().parent.parent / "siloos" / "sdk"


def test_membrane_call_and_echo_floor_have_the_shape_of_section_14():
    for figures in (measure_membrane_call(30), measure_echo_floor(30)):
        assert set(figures) == {"p50", "p99"}
        assert 0 < figures["p50"] <= figures["p99"]


def test_bench_hop_calls_are_audited_and_really_run(tmp_path):
    with bench_hop(tmp_path, 5) as hop, hop.client() as client:
        assert client.call(hop.tool, **hop.args) == {"match": True}
        rows = hop.membrane.store.audit_events(hop.task_id)
    assert rows[-1]["ok"] is True and rows[-1]["tool"] == "identity.verify"


def test_timing_script_runs_standalone_against_the_membrane(tmp_path):
    with bench_hop(tmp_path, 40) as hop:
        env = hop.env()
        proc = subprocess.run(
            [sys.executable, "-I", "-S", str(SDK_DIR / "silo" / "timing.py"), "10", hop.tool,
             json.dumps(hop.args)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 10 and result["failed"] == 0 and result["p50"] > 0
