"""`silo data import TABLE FILE.csv` and `silo outbox [--json]`: the demo back office.

The back office (`.silo/backoffice.db`) is the company's system of record, not SiloOS's
state, so `silo outbox` shows real addresses: that is what was really sent (design §11).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siloos.backoffice import BackOffice
from siloos.backoffice.csv_import import TABLES
from siloos.errors import UsageError
from siloos.workspace import Workspace

data_app = typer.Typer(
    name="data",
    help="Load data into the demo back office (.silo/backoffice.db).",
    no_args_is_help=True,
)


@data_app.command("import")
def import_command(
    table: str = typer.Argument(..., help="customers or orders"),
    file: Path = typer.Argument(..., help="CSV file with a header row of the table's columns"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import a CSV file into customers or orders: every row, or none."""
    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}; expected one of: {', '.join(TABLES)}")
    workspace = Workspace.find()
    with BackOffice.open(workspace.backoffice_db) as office:
        imported = office.import_csv(table, file)
    if as_json:
        typer.echo(json.dumps({"table": table, "file": str(file), "rows": imported}))
    else:
        typer.echo(f"imported {imported} row{'s' if imported != 1 else ''} into {table} "
                   f"from {file}")


def outbox_command(
    as_json: bool = typer.Option(False, "--json", help="Print the messages as JSON."),
) -> None:
    """List the messages exits have sent (the demo back office's outbox)."""
    workspace = Workspace.find()
    messages: list[dict[str, object]] = []
    # Reading the outbox must not create a back office where there was none.
    if workspace.backoffice_db.exists():
        with BackOffice.open(workspace.backoffice_db) as office:
            messages = office.outbox()
    if as_json:
        typer.echo(json.dumps(messages, indent=2))
        return
    if not messages:
        typer.echo("no messages sent")
        return
    for message in messages:
        typer.echo(f"{message['sent_at']}  {message['message_id']}  to {message['to']}  "
                   f"[{message['template']}]  {message['subject']}")


def register(app: typer.Typer) -> None:
    """Add `silo data ...` and `silo outbox` to the app."""
    app.add_typer(data_app, name="data")
    app.command("outbox")(outbox_command)
