"""`silo bench [--json] [--quick] [--check]`: the benchmark suite (design §14).

`--json` prints the §14 object (plus `extra`); otherwise a small table puts each SiloOS
figure beside its baseline with the ratio and the issue target, marked met or missed.
Cells are built with the current workspace's `[cell]` settings when run inside one, else
the defaults. Exit codes: 0 measured (targets are reported, not enforced, unless
`--check`: then 1 when any target is missed), 4 a measurement failed, 5 no sandbox.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from siloos.errors import UsageError
from siloos.workspace import CellConfig, Workspace


def _cell_config() -> CellConfig:
    try:
        return Workspace.find().config.cell
    except UsageError:  # not inside a workspace: the documented defaults
        return CellConfig()


def _row(name: str, value: str, baseline: str, ratio: str, target: str) -> str:
    return f"{name:<18} {value:>16} {baseline:>16} {ratio:>8}  {target}"


def _verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: f"{'met' if t['met'] else 'MISSED'} ({t['detail']})"
            for t in report["extra"]["targets"]}


def render_table(report: dict[str, Any]) -> str:
    """The human view of a report: figure, baseline, ratio, target verdict."""
    ratios = report["extra"]["ratios"]
    verdict = _verdicts(report)
    cell, bare = report["cell_start_ms"], report["bare_start_ms"]
    call, floor = report["membrane_call_us"], report["echo_floor_us"]
    det = report["detector"]

    def x(value: float | None) -> str:
        return "-" if value is None else f"{value:g}x"

    lines = [
        _row("figure", "siloos", "baseline", "ratio", "target"),
        _row("start p50 (ms)", f"{cell['p50']:g}", f"{bare['p50']:g}",
             x(ratios["cell_start_p50"]), "<= 2x: " + verdict["cell start"]),
        _row("start p95 (ms)", f"{cell['p95']:g}", f"{bare['p95']:g}", "", ""),
        _row("call p50 (us)", f"{call['p50']:g}", f"{floor['p50']:g}",
             x(ratios["membrane_call_p50"]), "<= 4x: " + verdict["membrane call p50"]),
        _row("call p99 (us)", f"{call['p99']:g}", f"{floor['p99']:g}",
             x(ratios["membrane_call_p99_to_floor_p50"]),
             "<= 10x floor p50: " + verdict["membrane call p99"]),
        _row("tasks/s", f"{report['tasks_per_s']:g}", f"{report['bare_tasks_per_s']:g}",
             x(ratios["bare_tasks_to_tasks"]) + "*",
             f"workers={report['extra']['notes']['workers']}"),
        _row("tokenize MB/s", f"{report['tokenize_mb_s']:g}", "", "",
             ">= 20: " + verdict["tokenize speed"]),
        _row("detector F2", f"{det['f2']:g}", "", "", ">= 0.95: " + verdict["detector F2"]),
        f"detector: precision {det['precision']:g}, recall {det['recall']:g} on "
        f"{det['samples']} labelled sentences",
    ]
    presidio = report["extra"]["detector_presidio"]
    if presidio is not None:
        lines.append(f"presidio (same sentences): precision {presidio['precision']:g}, recall "
                     f"{presidio['recall']:g}, F2 {presidio['f2']:g}")
    else:
        lines.append(f"presidio: not measured: {report['extra']['detector_presidio_reason']}")
    lines.append("* tasks: bare rate / router rate; calls and echo floor both from inside "
                 "an nsjail cell")
    return "\n".join(lines)


def bench_command(
    as_json: bool = typer.Option(False, "--json", help="Print the §14 JSON object."),
    quick: bool = typer.Option(False, "--quick", help="Few samples (a smoke run for tests)."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when any target is missed."),
) -> None:
    """Measure cell start, membrane calls, task rate and the detector beside baselines."""
    from siloos.bench.suite import SuiteSize, run_suite

    report = run_suite(SuiteSize.quick() if quick else SuiteSize.full(), _cell_config())
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    missed = [t for t in report["extra"]["targets"] if not t["met"]]
    if check and missed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `silo bench`."""
    app.command("bench")(bench_command)
