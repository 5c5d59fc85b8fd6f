"""The agent model: what an AGENT.md manifest (design §3.1) and a procedure (§3.2) are.

This module holds the typed, already-validated shapes and the schema constants (name and
version patterns, the known keys). Validation itself lives in the lint rules so that
`silo lint` and `load_agent` can never disagree; `siloos.agent.loader` builds these
objects only from a manifest the blocking rules accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Agent Skills naming: lowercase letters and digits, single hyphens inside, 1..64 chars.
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_MAX = 64
DESCRIPTION_MAX = 1024

#: semver.org 2.0.0, the official regular expression.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

MANIFEST_KEYS = frozenset({"name", "description", "version", "model", "capabilities",
                           "escalate_to", "limits"})
MANIFEST_REQUIRED = ("name", "description", "version")
PROCEDURE_KEYS = frozenset({"name", "description", "uses", "when"})

#: Limits are handed to nsjail and cgroups as C integers; anything beyond is a typo.
LIMIT_MAX = 2**31 - 1

#: The escalation target that means "the human queue" rather than an agent.
HUMAN = "human"

#: AGENT.md body sections every agent should have (design §3).
REQUIRED_SECTIONS = ("Purpose", "Capabilities", "Limitations", "Escalation")


@dataclass(frozen=True)
class Procedure:
    """One procedure: a step-by-step SOP with frontmatter (design §3.2)."""

    path: Path
    name: str
    description: str
    uses: tuple[str, ...]
    when: str | None
    body: str


@dataclass(frozen=True)
class Agent:
    """A loaded, validated agent folder."""

    dir: Path
    name: str
    description: str
    version: str
    model: str | None
    #: exit name → constraint mapping (an empty dict for an unconstrained capability).
    capabilities: dict[str, dict[str, Any]]
    escalate_to: tuple[str, ...]
    #: The manifest's limits merged over `siloos.workspace.DEFAULT_LIMITS`.
    limits: dict[str, int]
    body: str
    policies: tuple[Path, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    examples: tuple[Path, ...] = ()
    templates: tuple[Path, ...] = ()
    #: Top-level frontmatter keys the schema does not know (lint warns about them).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Only the limits the manifest itself sets, so a caller can merge them over the
    #: workspace's `[limits]` instead of the built-in defaults.
    declared_limits: dict[str, int] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.dir / "AGENT.md"

    @property
    def main_path(self) -> Path:
        return self.dir / "main.py"
