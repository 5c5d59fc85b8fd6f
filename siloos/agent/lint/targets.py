"""Turning the paths given to `silo lint` into the units rules inspect.

A path may be a workspace root, a folder of agents, one agent folder, a procedures or
workflows folder, or a single file (AGENT.md, a procedure or other markdown, a workflow
YAML, a Python file). Each file becomes exactly one unit of each kind it is, however many
of the given paths reach it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from siloos.agent.document import (
    DocumentError,
    load_document,
    read_text,
    split_frontmatter,
)
from siloos.agent.lint.base import AgentUnit, CodeUnit, MarkdownUnit, ProcedureUnit, WorkflowUnit
from siloos.errors import UsageError
from siloos.workspace import CONFIG_NAME

#: Cap on files walked in one agent folder: a folder that large is a mistake, not an agent.
MAX_FILES = 5000
WORKFLOW_SUFFIXES = (".yaml", ".yml")


def load_agent_unit(agent_dir: Path) -> AgentUnit:
    unit = AgentUnit(dir=agent_dir)
    try:
        unit.doc = load_document(agent_dir / "AGENT.md")
    except DocumentError as err:
        unit.error = err
    return unit


def load_procedure_unit(path: Path, agent: AgentUnit | None) -> ProcedureUnit:
    unit = ProcedureUnit(path=path, agent=agent)
    try:
        unit.doc = load_document(path)
    except DocumentError as err:
        unit.error = err
    return unit


def _walk(folder: Path) -> Iterator[Path]:
    """Files under `folder`, without following symlinked folders or entering dot-folders."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            count += 1
            if count > MAX_FILES:
                raise UsageError(f"{folder}: more than {MAX_FILES} files; is this an agent?")
            yield Path(dirpath) / name


@dataclass
class Units:
    """Everything to lint, keyed by path so that overlapping arguments lint once."""

    agents: dict[Path, AgentUnit] = field(default_factory=dict)
    procedures: dict[Path, ProcedureUnit] = field(default_factory=dict)
    markdown: dict[Path, MarkdownUnit] = field(default_factory=dict)
    code: dict[Path, CodeUnit] = field(default_factory=dict)
    workflows: dict[Path, WorkflowUnit] = field(default_factory=dict)

    # -- one kind of thing each --------------------------------------------------------
    def add_agent(self, agent_dir: Path) -> None:
        if agent_dir in self.agents:
            return
        unit = load_agent_unit(agent_dir)
        self.agents[agent_dir] = unit
        if unit.error is None or unit.error.stage != "read":
            self.add_markdown(unit.manifest_path, report_read_errors=False)
        if not agent_dir.is_dir():
            return
        python_files = []
        for path in _walk(agent_dir):
            if path.suffix == ".md" and path.name != "AGENT.md":
                if path.parent == agent_dir / "procedures":
                    self.add_procedure(path, unit)
                else:
                    self.add_markdown(path)
            elif path.suffix == ".py":
                python_files.append(path)
        own = _own_modules(agent_dir)
        for path in python_files:
            self.add_code(path, agent_dir, own)

    def add_procedure(self, path: Path, agent: AgentUnit | None) -> None:
        if path in self.procedures:
            return
        unit = load_procedure_unit(path, agent)
        self.procedures[path] = unit
        if unit.error is None or unit.error.stage != "read":
            self.add_markdown(path, report_read_errors=False)

    def add_markdown(self, path: Path, *, report_read_errors: bool = True) -> None:
        if path in self.markdown:
            return
        unit = MarkdownUnit(path=path)
        try:
            unit.text = read_text(path)
        except DocumentError as err:
            if report_read_errors:
                unit.error = err
                self.markdown[path] = unit
            return
        try:
            _head, unit.body, unit.body_line = split_frontmatter(unit.text)
        except DocumentError:
            # An unclosed frontmatter is reported by the manifest/procedure rules; links
            # and personal data are still checked in the whole text.
            unit.body, unit.body_line = unit.text, 1
        self.markdown[path] = unit

    def add_code(self, path: Path, agent_dir: Path, own: frozenset[str] | None = None) -> None:
        if path in self.code:
            return
        unit = CodeUnit(path=path, agent_dir=agent_dir,
                        own_modules=own if own is not None else _own_modules(agent_dir))
        try:
            unit.source = read_text(path)
        except DocumentError as err:
            unit.error = err
        self.code[path] = unit

    def add_workflow(self, path: Path) -> None:
        if path in self.workflows:
            return
        unit = WorkflowUnit(path=path)
        try:
            unit.doc = load_document(path, frontmatter=False)
        except DocumentError as err:
            unit.error = err
        self.workflows[path] = unit

    # -- folders ---------------------------------------------------------------------
    def add_agents_folder(self, folder: Path) -> None:
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") or child.name == "__pycache__":
                continue
            if child.is_dir():
                self.add_agent(child)
            elif child.suffix == ".md":
                self.add_markdown(child)

    def add_procedures_folder(self, folder: Path) -> None:
        owner = folder.parent if (folder.parent / "AGENT.md").is_file() else None
        agent = load_agent_unit(owner) if owner is not None else None
        for path in _walk(folder):
            if path.suffix == ".md":
                self.add_procedure(path, agent)

    def add_workflows_folder(self, folder: Path) -> None:
        for path in _walk(folder):
            if path.suffix in WORKFLOW_SUFFIXES:
                self.add_workflow(path)

    def add_workspace(self, root: Path) -> None:
        for sub, add in (("agents", self.add_agents_folder),
                         ("procedures", self.add_procedures_folder),
                         ("workflows", self.add_workflows_folder)):
            if (root / sub).is_dir():
                add(root / sub)

    def add_path(self, path: Path) -> None:
        """Classify one command-line path; unusable paths are a UsageError (exit 2)."""
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_dir():
            self._add_folder(path)
        elif path.is_file():
            self._add_file(path)
        else:
            raise UsageError(f"{path}: not a regular file or folder")

    def _add_folder(self, path: Path) -> None:
        if (path / CONFIG_NAME).is_file():
            self.add_workspace(path)
        elif ((path / "AGENT.md").exists() or (path / "main.py").exists()
              or path.parent.name == "agents"):
            self.add_agent(path)
        elif path.name == "procedures":
            self.add_procedures_folder(path)
        elif path.name == "workflows":
            self.add_workflows_folder(path)
        elif path.name == "agents" or any(
                (child / "AGENT.md").exists() for child in path.iterdir() if child.is_dir()):
            self.add_agents_folder(path)
        else:
            raise UsageError(f"{path}: not a workspace, agent, folder of agents, procedures "
                             "or workflows folder")

    def _add_file(self, path: Path) -> None:
        if path.name == "AGENT.md":
            self.add_agent(path.parent)
        elif path.suffix == ".md":
            if path.parent.name == "procedures":
                owner = path.parent.parent
                agent = load_agent_unit(owner) if (owner / "AGENT.md").is_file() else None
                self.add_procedure(path, agent)
            else:
                self.add_markdown(path)
        elif path.suffix in WORKFLOW_SUFFIXES:
            self.add_workflow(path)
        elif path.suffix == ".py":
            self.add_code(path, path.parent)
        else:
            raise UsageError(f"{path}: cannot lint this kind of file "
                             "(expected .md, .yaml, .yml or .py)")


def _own_modules(agent_dir: Path) -> frozenset[str]:
    """Module names an agent folder provides at its top level (`tools`, `helpers`...)."""
    try:
        entries = list(agent_dir.iterdir())
    except OSError:
        return frozenset()
    names = {p.stem for p in entries if p.suffix == ".py" and p.is_file()}
    names |= {p.name for p in entries if p.is_dir() and (p / "__init__.py").is_file()}
    return frozenset(names)
