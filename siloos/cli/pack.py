"""`silo pack AGENT_DIR [-o DIR]`: write a reproducible `NAME-VERSION.silo` (design §10)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siloos.agent.pack import pack_agent


def register(app: typer.Typer) -> None:
    """Add `silo pack` to the app."""

    @app.command("pack")
    def pack_command(
        agent_dir: Path = typer.Argument(..., help="The agent folder to pack."),
        out_dir: Path = typer.Option(Path("."), "--output", "-o",
                                     help="Folder to write the pack into (default: cwd)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Refuse an agent with lint errors; otherwise write NAME-VERSION.silo and its sha256."""
        result = pack_agent(agent_dir, out_dir)
        if as_json:
            print(json.dumps({"path": str(result.path), "sha256": result.sha256}))
            return
        print(result.path)
        print(f"sha256 {result.sha256}")
