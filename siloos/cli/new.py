"""`silo new agent NAME` and `silo new procedure AGENT NAME`: scaffold from `templates/`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siloos.agent.scaffold import check_name, new_agent, new_procedure
from siloos.errors import UsageError
from siloos.workspace import Workspace

new_app = typer.Typer(help="Scaffold an agent or a procedure from the templates.",
                      no_args_is_help=True)


def _workspace(where: Path | None) -> Workspace:
    return Workspace.find(where)


def resolve_agent_dir(ws: Workspace, agent: str) -> Path:
    """AGENT is a path to an agent folder, or the name of one under the workspace's agents/."""
    as_path = Path(agent)
    if (as_path / "AGENT.md").is_file():
        return as_path.resolve()
    check_name(agent, what="agent name")
    folder = ws.agents_dir / agent
    if not (folder / "AGENT.md").is_file():
        raise UsageError(f"no agent {agent!r} in {ws.agents_dir} (no AGENT.md)")
    return folder


@new_app.command("agent")
def new_agent_command(
    name: str = typer.Argument(..., help="Agent name: lowercase words joined by hyphens."),
    workspace: Path = typer.Option(None, "--workspace", "-w",
                                   help="Workspace folder (default: the one around cwd)."),
    description: str = typer.Option(None, "--description", help="One-line description."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create agents/NAME/ with AGENT.md, main.py, policies, procedures, examples, templates."""
    if description is not None and not 1 <= len(description) <= 1024:
        raise UsageError("description must be 1..1024 characters")
    ws = _workspace(workspace)
    made = new_agent(ws.agents_dir, name, limits=ws.config.limits, description=description)
    if as_json:
        print(json.dumps({"agent": str(ws.agents_dir / name), "made": [str(p) for p in made]}))
        return
    print(f"Created agent {name} in {ws.agents_dir / name}")
    for path in made:
        print(f"  {path.relative_to(ws.root).as_posix()}")
    print(f"Next: edit agents/{name}/AGENT.md, then silo lint agents/{name}")


@new_app.command("procedure")
def new_procedure_command(
    agent: str = typer.Argument(..., help="Agent name (under agents/) or agent folder."),
    name: str = typer.Argument(..., help="Procedure name: lowercase words joined by hyphens."),
    workspace: Path = typer.Option(None, "--workspace", "-w",
                                   help="Workspace folder (default: the one around cwd)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create procedures/NAME.md in an agent, with frontmatter to fill in."""
    ws = _workspace(workspace)
    path = new_procedure(resolve_agent_dir(ws, agent), name)
    if as_json:
        print(json.dumps({"procedure": str(path)}))
        return
    print(f"Created procedure {name} in {path}")
    print("Next: list the tools it uses in its frontmatter `uses`, then silo lint")


def register(app: typer.Typer) -> None:
    """Add `silo new` to the app."""
    app.add_typer(new_app, name="new")
