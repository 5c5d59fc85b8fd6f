"""`silo bench --json --quick` through the real CLI: real cells, the §14 shape, no timings.

Figures are only checked for shape and sanity (positive, p50 <= p95/p99, rates in range):
timing targets belong to the benchmark's own report, never to unit tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from siloos.bench.suite import SECTION_14_KEYS
from siloos.cli.bench import render_table

SILO = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "silo"


def _silo(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SILO), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Outside any workspace, so the default [cell] settings are used.
    proc = _silo(["bench", "--json", "--quick"], cwd=tmp_path_factory.mktemp("bench"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_keys_are_exactly_section_14_then_extra(report: dict[str, Any]) -> None:
    assert list(report) == [*SECTION_14_KEYS, "extra"]
    assert set(report["cell_start_ms"]) == set(report["bare_start_ms"]) == {"p50", "p95"}
    assert set(report["membrane_call_us"]) == set(report["echo_floor_us"]) == {"p50", "p99"}
    assert set(report["detector"]) == {"precision", "recall", "f2", "samples"}


def test_percentiles_are_positive_and_ordered(report: dict[str, Any]) -> None:
    for key, high in (("cell_start_ms", "p95"), ("bare_start_ms", "p95"),
                      ("membrane_call_us", "p99"), ("echo_floor_us", "p99")):
        figures = report[key]
        assert _number(figures["p50"]) and _number(figures[high]), key
        assert 0 < figures["p50"] <= figures[high], key


def test_rates_and_detector_are_sane(report: dict[str, Any]) -> None:
    for key in ("tasks_per_s", "bare_tasks_per_s", "tokenize_mb_s"):
        assert _number(report[key]) and report[key] > 0, key
    detector = report["detector"]
    assert isinstance(detector["samples"], int) and detector["samples"] > 0
    for key in ("precision", "recall", "f2"):
        assert _number(detector[key]) and 0 <= detector[key] <= 1, key


def test_extra_says_how_it_was_measured(report: dict[str, Any]) -> None:
    extra = report["extra"]
    assert extra["notes"]["workers"] == 1
    assert extra["samples"]["calls"] > 0 and extra["samples"]["tasks"] > 0
    targets = {t["name"]: t for t in extra["targets"]}
    assert set(targets) == {"cell start", "membrane call p50", "membrane call p99",
                            "detector F2", "tokenize speed"}
    assert all(isinstance(t["met"], bool) and _number(t["measured"]) for t in targets.values())
    # Verdicts agree with the figures they judge.
    ratio = report["membrane_call_us"]["p50"] / report["echo_floor_us"]["p50"]
    assert targets["membrane call p50"]["met"] == (round(ratio, 2) <= 4)
    assert targets["detector F2"]["met"] == (report["detector"]["f2"] >= 0.95)
    if extra["detector_presidio"] is None:
        assert extra["detector_presidio_reason"]


def test_human_table_shows_each_target_verdict(report: dict[str, Any]) -> None:
    table = render_table(report)
    for verdict in report["extra"]["targets"]:
        assert ("met (" if verdict["met"] else "MISSED (") + verdict["detail"] in table
    assert "workers=1" in table


def test_no_sandbox_fails_closed_with_exit_5_and_no_figures(tmp_path: Path) -> None:
    proc = _silo(["bench", "--json", "--quick"], cwd=tmp_path,
                 SILO_NSJAIL=str(tmp_path / "no-nsjail-here"))
    assert proc.returncode == 5
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "nsjail" in proc.stderr
