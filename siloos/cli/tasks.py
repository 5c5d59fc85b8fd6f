"""`silo tasks` and `silo show TASK`: what the task store holds (design §10 JSON shapes).

Read-only views of `.silo/state.db`; everything in it is already tokenized.
"""

from __future__ import annotations

import json

import typer

from siloos.cli.output import printable
from siloos.errors import UsageError
from siloos.store import StateStore
from siloos.workspace import Workspace


def _open_store() -> StateStore:
    ws = Workspace.find()
    if not ws.state_db.exists():
        raise UsageError(f"no task store yet ({ws.state_db}); run a task first")
    return StateStore.open(ws.state_db)


def tasks_command(
    state: str | None = typer.Option(None, "--state", help="Only tasks in this state."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tasks, newest first."""
    store = _open_store()
    try:
        rows = store.list_tasks(state=state, limit=limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        target = row["agent"] or row["workflow"] or "-"
        reason = f"  ({printable(row['reason'])})" if row["reason"] else ""
        print(f"{row['task_id']}  {row['state']:<13} {target:<24} {row['updated_at']}{reason}")


def show_command(
    task_id: str = typer.Argument(..., help="The task id (task_…)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One task's hops and events."""
    store = _open_store()
    try:
        shown = store.show(task_id)
    finally:
        store.close()
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    reason = f" ({printable(shown['reason'])})" if shown["reason"] else ""
    print(f"task {shown['task_id']}: {shown['state']}{reason}")
    for hop in shown["hops"]:
        print(f"  hop {hop['hop']}: {hop['agent']} -> {hop['status']} "
              f"{json.dumps(hop['summary'], sort_keys=True)}")
    for event in shown["events"]:
        rest = {k: v for k, v in event.items() if k not in ("id", "kind", "at", "hop")}
        print(f"  {event['at']}  {event['kind']:<14} hop={event.get('hop')} "
              f"{json.dumps(rest, sort_keys=True)}")


def register(app: typer.Typer) -> None:
    """Add `silo tasks` and `silo show`."""
    app.command("tasks")(tasks_command)
    app.command("show")(show_command)
