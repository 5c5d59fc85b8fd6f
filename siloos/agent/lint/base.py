"""The lint vocabulary: findings, the units rules look at, and the `Rule` base class.

A rule is a small object with a stable id (`SILO101`), a one-line summary, a default
severity and the kind of unit it inspects. It yields `Hit`s (path, line, message); the
engine turns hits into `Finding`s carrying the rule's id and severity. Rules never raise
on bad input: a unit that could not be parsed carries its error, and only the rule that
owns that failure reports it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from siloos.agent.document import Document, DocumentError
from siloos.exits import Registry

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem lint reports."""

    path: Path
    line: int
    rule: str
    severity: str
    message: str

    def to_dict(self, *, path: str | None = None) -> dict[str, Any]:
        return {"path": path if path is not None else str(self.path), "line": self.line,
                "rule": self.rule, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Hit:
    """What a rule yields: where and what; the engine adds the rule id and severity."""

    path: Path
    line: int
    message: str


@dataclass(frozen=True)
class LintContext:
    """What every rule may consult besides its unit."""

    registry: Registry
    workspace_root: Path | None
    #: Links must resolve inside this folder (the workspace, or the linted path without one).
    link_root: Path
    #: Agent names that exist (folders with AGENT.md under the workspace's agents/).
    known_agents: frozenset[str]


class DocumentUnit(ABC):
    """A unit backed by one YAML document (AGENT.md, a procedure, a workflow).

    It owns the two questions every frontmatter rule asks: the mapping to check (None when
    the document is missing or not a mapping, which only the file-level rule reports) and
    the line a key path sits on (1 when there is no document to ask).
    """

    doc: Document | None
    error: DocumentError | None

    @property
    @abstractmethod
    def file(self) -> Path:
        """The file findings about this document point at."""

    @property
    def data(self) -> dict[str, Any] | None:
        """The frontmatter mapping, or None when there is none to check."""
        if self.doc is None or not isinstance(self.doc.data, dict):
            return None
        return self.doc.data

    def line_of(self, *keypath: str | int) -> int:
        return self.doc.line_of(*keypath) if self.doc is not None else 1


@dataclass
class AgentUnit(DocumentUnit):
    """An agent folder and its parsed AGENT.md (or why it could not be parsed)."""

    dir: Path
    doc: Document | None = None
    error: DocumentError | None = None

    @property
    def manifest_path(self) -> Path:
        return self.dir / "AGENT.md"

    @property
    def file(self) -> Path:
        return self.manifest_path

    def capabilities(self) -> dict[str, Any] | None:
        """The capabilities mapping when it is well-formed enough to compare against."""
        data = self.data
        caps = data.get("capabilities") if data is not None else None
        return caps if isinstance(caps, dict) else None


@dataclass
class ProcedureUnit(DocumentUnit):
    """A procedure file; `agent` is the owning agent, None for workspace procedures."""

    path: Path
    agent: AgentUnit | None = None
    doc: Document | None = None
    error: DocumentError | None = None

    @property
    def file(self) -> Path:
        return self.path


@dataclass
class MarkdownUnit:
    """Any markdown file: its text, and its body with the body's first line."""

    path: Path
    text: str = ""
    body: str = ""
    body_line: int = 1
    error: DocumentError | None = None


@dataclass
class CodeUnit:
    """A Python file of an agent (main.py, tools.py, its own modules)."""

    path: Path
    agent_dir: Path
    source: str = ""
    error: DocumentError | None = None
    #: Top-level module names the agent folder provides (its own modules may be imported).
    own_modules: frozenset[str] = field(default_factory=frozenset)


@dataclass
class WorkflowUnit(DocumentUnit):
    """A workflow YAML file (design §8)."""

    path: Path
    doc: Document | None = None
    error: DocumentError | None = None

    @property
    def file(self) -> Path:
        return self.path


class Rule(ABC):
    """Base of every lint rule. Subclasses set the class attributes and `check`."""

    id: ClassVar[str]
    summary: ClassVar[str]
    severity: ClassVar[str] = ERROR
    #: Which unit kind the rule inspects: agent, procedure, markdown, code, workflow.
    unit: ClassVar[str]
    #: Manifest rules with blocking=True make `load_agent` refuse the agent (`silo run`).
    blocking: ClassVar[bool] = False

    @abstractmethod
    def check(self, unit: Any, ctx: LintContext) -> Iterator[Hit]:
        """Yield one Hit per problem found in `unit`."""


def error_hit(path: Path, error: DocumentError, prefix: str) -> Hit:
    """The finding for a file that could not be read or parsed, at the error's line if known."""
    return Hit(path, error.line or 1, f"{prefix}: {error}")
