"""`silo lint [PATH...] [--format text|json|github] [--strict] [--list-rules]` (design §10).

Exit codes: 0 when there is no error (warnings alone pass unless `--strict`), 1 when lint
found errors, 2 for usage problems or unreadable input (a path that does not exist).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from siloos.agent.lint import ERROR, RULES, Finding, lint_paths
from siloos.errors import CheckFailed, UsageError
from siloos.workspace import Workspace


class OutputFormat(StrEnum):
    """How findings are printed."""

    text = "text"
    json = "json"
    github = "github"


def display_path(path: Path, cwd: Path | None = None) -> str:
    """`path` relative to the current directory when it is inside it, else as given."""
    cwd = (cwd or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(cwd))
    except ValueError:
        return str(path)


def _gh_escape(value: str, *, prop: bool = False) -> str:
    # GitHub workflow commands: data escapes %, CR, LF; properties also : and ,.
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render(findings: list[Finding], fmt: OutputFormat) -> str:
    """The findings as the chosen format prints them (no trailing newline when empty)."""
    if fmt is OutputFormat.json:
        return json.dumps([f.to_dict(path=display_path(f.path)) for f in findings], indent=2)
    lines = []
    for f in findings:
        path = display_path(f.path)
        if fmt is OutputFormat.github:
            level = "error" if f.severity == ERROR else "warning"
            lines.append(f"::{level} file={_gh_escape(path, prop=True)},line={f.line},"
                         f"title={f.rule}::{_gh_escape(f.message)}")
        else:
            suffix = "" if f.severity == ERROR else " (warning)"
            lines.append(f"{path}:{f.line}: {f.rule} {f.message}{suffix}")
    return "\n".join(lines)


def _list_rules(fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{"rule": r.id, "severity": r.severity, "summary": r.summary}
                               for r in RULES], indent=2))
        return
    for rule in RULES:
        typer.echo(f"{rule.id}  {rule.severity:<7}  {rule.summary}")


def _default_paths() -> list[Path]:
    try:
        workspace = Workspace.find()
    except UsageError:
        raise UsageError("not inside a workspace (no silo.toml); give a PATH to lint") from None
    return [workspace.root]


def lint_command(
    paths: list[Path] = typer.Argument(
        None, help="Agent folders, folders of agents, procedures, workflows, files or a "
                   "workspace. Default: the current workspace."),
    output_format: OutputFormat = typer.Option(
        OutputFormat.text, "--format", help="text, json or github (Actions annotations)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    list_rules: bool = typer.Option(False, "--list-rules", help="Print every rule and exit."),
) -> None:
    """Check agents, procedures and workflows; rule ids like SILO101."""
    if list_rules:
        _list_rules(output_format)
        return
    findings = lint_paths(list(paths) if paths else _default_paths(), strict=strict)
    out = render(findings, output_format)
    if out or output_format is OutputFormat.json:
        typer.echo(out)
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    if errors:
        # CheckFailed is exit 1 with one summary line on stderr (the findings are on stdout).
        raise CheckFailed(f"lint found {errors} error(s) and {warnings} warning(s)")


def register(app: typer.Typer) -> None:
    """Add `silo lint` to the app."""
    app.command("lint")(lint_command)
