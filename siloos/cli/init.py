"""`silo init [DIR]`: create a workspace (design §3) with its folders, config and keys.

The work is `siloos.workspace_init` (`init_workspace`, `init_state`); this module only
parses the command line and prints what was made.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import typer

from siloos.workspace_init import init_state, init_workspace


def _describe(path: Path, root: Path) -> str:
    """One line per thing made; private things show their mode so the user can see it."""
    rel = path.relative_to(root).as_posix()
    mode = stat.S_IMODE(path.stat().st_mode)
    if path.is_dir():
        rel += "/"
    return f"{rel} (mode {mode:04o})" if mode & 0o077 == 0 else rel


def register(app: typer.Typer) -> None:
    """Add `silo init` to the app."""

    @app.command("init")
    def init_command(
        directory: Path = typer.Argument(Path("."), help="Where to create the workspace."),
        name: str = typer.Option(None, "--name", help="Workspace name (default: folder name)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        state_only: bool = typer.Option(False, "--state", help="Only create .silo/ (keys, "
                                        "state) for an existing workspace, e.g. a clone."),
    ) -> None:
        """Create a workspace: silo.toml, folders, and signing and vault keys in .silo/keys/."""
        result = init_state(directory) if state_only else init_workspace(directory, name=name)
        if as_json:
            print(json.dumps({"workspace": str(result.root),
                              "made": [str(p) for p in result.made]}))
            return
        print(f"Created SiloOS workspace in {result.root}")
        for path in result.made:
            print(f"  {_describe(path, result.root)}")
        print("Next: silo new agent NAME")
