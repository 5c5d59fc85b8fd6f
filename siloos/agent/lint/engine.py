"""Running every rule over every unit: `lint_paths`.

The engine owns the context rules share (registry, workspace root, known agents) and the
one policy about severity: `--strict` turns every warning into an error. Rules decide
nothing about output or exit codes; the CLI does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from siloos.agent.lint import (
    code_rules,
    link_rules,
    manifest_rules,
    pii_rules,
    procedure_rules,
    workflow_rules,
)
from siloos.agent.lint.base import ERROR, WARNING, Finding, LintContext, Rule
from siloos.agent.lint.targets import Units
from siloos.errors import UsageError
from siloos.exits import Registry
from siloos.workspace import CONFIG_NAME, Workspace

#: Every rule, in id order. Rule ids are stable: never renumber, only add.
RULES: tuple[Rule, ...] = tuple(sorted(
    (*manifest_rules.RULES, *procedure_rules.RULES, *link_rules.RULES, *code_rules.RULES,
     *pii_rules.RULES, *workflow_rules.RULES),
    key=lambda rule: rule.id,
))


def rule_by_id(rule_id: str) -> Rule | None:
    return next((rule for rule in RULES if rule.id == rule_id), None)


def find_workspace_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding silo.toml (the config is not parsed)."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return None


def known_agents(workspace_root: Path | None, units: Units) -> frozenset[str]:
    """Agent names that exist: the workspace's agents/, else the linted agents' siblings."""
    folders: set[Path] = set()
    if workspace_root is not None and (workspace_root / "agents").is_dir():
        folders.add(workspace_root / "agents")
    else:
        folders |= {agent_dir.parent for agent_dir in units.agents}
    names: set[str] = set()
    for folder in folders:
        try:
            names |= {c.name for c in folder.iterdir() if (c / "AGENT.md").is_file()}
        except OSError:
            continue
    return frozenset(names)


def lint_paths(paths: Sequence[Path], *, registry: Registry | None = None,
               strict: bool = False, workspace_root: Path | None = None) -> list[Finding]:
    """Lint agents, procedures, workflows and markdown under `paths`.

    Raises UsageError (exit 2) for a path that does not exist or cannot be classified.
    With `strict`, warnings are reported as errors.
    """
    if not paths:
        raise UsageError("nothing to lint: give a PATH or run inside a workspace")
    paths = [Path(p) for p in paths]
    if workspace_root is None:
        workspace_root = find_workspace_root(paths[0]) if paths[0].exists() else None
    if registry is None:
        workspace = Workspace.load(workspace_root) if workspace_root is not None else None
        registry = Registry.for_workspace(workspace)
    units = Units()
    for path in paths:
        try:
            units.add_path(path)
        except OSError as err:
            raise UsageError(f"{path}: cannot read: {err.strerror or err}") from None
    link_root = workspace_root if workspace_root is not None else _common_root(paths)
    ctx = LintContext(registry=registry, workspace_root=workspace_root,
                      link_root=link_root, known_agents=known_agents(workspace_root, units))
    findings: set[Finding] = set()
    groups: dict[str, Iterable[object]] = {
        "agent": units.agents.values(), "procedure": units.procedures.values(),
        "markdown": units.markdown.values(), "code": units.code.values(),
        "workflow": units.workflows.values(),
    }
    for rule in RULES:
        for unit in groups[rule.unit]:
            for hit in rule.check(unit, ctx):
                severity = ERROR if strict and rule.severity == WARNING else rule.severity
                findings.add(Finding(path=hit.path, line=hit.line, rule=rule.id,
                                     severity=severity, message=hit.message))
    return sorted(findings)


def _common_root(paths: Sequence[Path]) -> Path:
    """Without a workspace, links must stay inside the folder that holds every linted path."""
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    common = folders[0]
    for folder in folders[1:]:
        while not folder.is_relative_to(common):
            common = common.parent
    # A lone agent folder: its siblings (other agents) are inside too.
    if (common / "AGENT.md").is_file():
        common = common.parent
    return common
