"""`silo run AGENT_DIR|PACK`: one task end to end through the router, membrane and a cell.

Exit codes (design §10): 0 done, 3 escalated to / waiting for a human, 4 failed (500,
timeout, killed), 5 sandbox unavailable, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from siloos.cli.output import printable
from siloos.errors import UsageError
from siloos.workspace import Workspace


def _parse_input(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--input is not valid JSON: {err.msg} at column {err.colno}") from None
    if not isinstance(value, dict):
        raise UsageError("--input must be a JSON object")
    return value


def run_command(
    agent: Path = typer.Argument(..., help="Agent folder or .silo pack."),
    customer: str | None = typer.Option(None, "--customer", help="Real customer id "
                                        "(tokenized on intake)."),
    message: str | None = typer.Option(None, "--message", help="The customer's message."),
    input_json: str | None = typer.Option(None, "--input", help="Extra task input, JSON."),
    llm: str | None = typer.Option(None, "--llm", help="LLM provider: anthropic or "
                                   "scripted:FILE."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    unsafe_no_jail: bool = typer.Option(False, "--unsafe-no-jail", hidden=True,
                                        help="DEVELOPERS ONLY: run the agent without a jail."),
) -> None:
    """Run one task end to end through the router, the membrane and a cell."""
    from siloos.router.run import run_task
    from siloos.router.runtime import Runtime

    extra = _parse_input(input_json)
    workspace = Workspace.find()
    rt = Runtime.open(workspace, unsafe_no_jail=unsafe_no_jail, llm_spec=llm)
    try:
        result = run_task(rt, agent.resolve(), customer=customer, message=message,
                          extra_input=extra)
    finally:
        rt.close()
    if as_json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=False))
    else:
        _print_human(result)
    raise typer.Exit(result.exit_code)


def _print_human(result: Any) -> None:
    print(f"task {result.task_id}: {result.state} (status {result.status}, "
          f"agent {result.agent})")
    for hop in result.hops:
        print(f"  hop {hop['hop']}: {hop['agent']} -> {hop['status']} "
              f"{json.dumps(hop['summary'], sort_keys=True)}")
    if result.redirect:
        print(f"  redirect: {printable(result.redirect)}")
    if result.stderr.strip():
        print("cell stderr (last lines):", file=sys.stderr)
        for line in result.stderr.strip().split("\n")[-10:]:
            print(f"  {printable(line)}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add `silo run`."""
    app.command("run")(run_command)
