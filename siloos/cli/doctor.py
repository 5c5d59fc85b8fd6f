"""`silo doctor [--json]`: can this host build a cell, and are the workspace's keys private?

Runs the cell preflight checks (nsjail, user namespaces, seccomp, cgroups, the cell
interpreter, a real test cell) and, inside a workspace, the keys check and the audit
journal check (no journal that recovery had to set aside as damaged). Prints each with
ok/FAIL and a one-line fix. Exit 0 when everything passes, 1 (CheckFailed) otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siloos.cell.backend import CheckResult
from siloos.cell.nsjail import NsjailBackend
from siloos.cell.preflight import run_checks
from siloos.errors import CheckFailed, UsageError
from siloos.store.journal import damaged_journals, journal_folder_problem
from siloos.workspace import Workspace, WorkspaceConfig


def _workspace(start: Path | None) -> Workspace | None:
    try:
        return Workspace.find(start)
    except UsageError:
        return None  # not in a workspace: check the host with default settings


def register(app: typer.Typer) -> None:
    """Add `silo doctor` to the app."""

    @app.command("doctor")
    def doctor(
        as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
        workspace: Path | None = typer.Option(None, "--workspace", "-w",
                                              help="Workspace folder (default: search up)."),
    ) -> None:
        """Check nsjail, user namespaces, cgroups, the cell interpreter and the keys."""
        ws = _workspace(workspace)
        config = ws.config if ws else WorkspaceConfig()
        backend = NsjailBackend(nsjail_path=config.cell.nsjail,
                                interpreter=config.cell.interpreter)
        results = run_checks(backend, config.cell.interpreter, ws.keys_dir if ws else None)
        if ws is not None:
            results.append(journal_check(ws.state_db))
        ok = all(r.ok for r in results)
        if as_json:
            typer.echo(json.dumps({"ok": ok, "workspace": str(ws.root) if ws else None,
                                   "checks": [r.to_dict() for r in results]}, indent=2))
        else:
            for r in results:
                mark = "ok  " if r.ok else "FAIL"
                typer.echo(f"{mark} {r.name}: {r.detail}")
                if not r.ok:
                    typer.echo(f"     fix: {r.fix}")
            if ws is None:
                typer.echo("note: not in a workspace; keys not checked")
            if ok:
                typer.echo("all checks passed")
        if not ok:
            failed = ", ".join(r.name for r in results if not r.ok)
            raise CheckFailed(f"doctor: failed checks: {failed}")


def journal_check(state_db: Path) -> CheckResult:
    """Audit journals that recovery could not trust (`siloos.store.journal`): their rows
    are not in state.db, so the audit trail has a gap until someone looks."""
    problem = journal_folder_problem(state_db)
    if problem:
        return CheckResult.failed("journal", problem,
                                  f"chown $(id -u) {state_db.parent / 'journal'} && chmod 700 "
                                  f"{state_db.parent / 'journal'}")
    damaged = damaged_journals(state_db)
    if damaged:
        return CheckResult.failed(
            "journal", f"{len(damaged)} damaged audit journal(s), e.g. {damaged[0]}",
            "inspect them (JSON lines: seq, exit row, audit row), then move them out of "
            f"{damaged[0].parent}")
    return CheckResult.passed("journal", "no damaged audit journals")
