"""SILO1xx: the AGENT.md manifest (design §3.1).

Rules marked `blocking` are the ones `load_agent` enforces too (an agent `silo run`
refuses); the others are advice for authors and a gate for `silo pack`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

from siloos.agent.document import DocumentError, short
from siloos.agent.lint import mdscan
from siloos.agent.lint.base import (
    WARNING,
    AgentUnit,
    DocumentUnit,
    Hit,
    LintContext,
    Rule,
    error_hit,
)
from siloos.agent.lint.keys import (
    FrontmatterRule,
    ListKeyRule,
    MappingKeyRule,
    NonEmptyStringRule,
    RequiredDescriptionRule,
    RequiredKeyRule,
    RequiredNameRule,
    UnknownKeysRule,
    check_name_value,
)
from siloos.agent.manifest import (
    HUMAN,
    LIMIT_MAX,
    MANIFEST_KEYS,
    REQUIRED_SECTIONS,
    SEMVER_RE,
)
from siloos.exits import ExitSpec
from siloos.exits.templates import TEMPLATE_NAME, template_path
from siloos.workspace import DEFAULT_LIMITS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class ManifestMissing(Rule):
    id = "SILO100"
    summary = "AGENT.md is missing or unreadable"
    unit = "agent"
    blocking = True

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None and unit.error.stage == "read":
            if not unit.manifest_path.exists():
                yield Hit(unit.file, 1, f"agent folder {unit.dir.name!r} has no AGENT.md")
            else:
                yield error_hit(unit.file, unit.error, "cannot read AGENT.md")


class ManifestFrontmatter(FrontmatterRule):
    id = "SILO101"
    summary = "AGENT.md frontmatter is missing, not valid YAML, not a mapping, or repeats a key"
    unit = "agent"
    blocking = True
    error_prefix = "frontmatter"
    missing = "AGENT.md must start with YAML frontmatter between `---` lines"

    def owns(self, error: DocumentError) -> bool:
        return error.stage == "parse"  # an unreadable AGENT.md is SILO100's


class ManifestName(RequiredNameRule):
    id = "SILO102"
    summary = "name is missing or breaks the Agent Skills naming rules"
    unit = "agent"
    blocking = True


class ManifestNameMatchesFolder(Rule):
    id = "SILO103"
    summary = "name differs from the agent's folder name"
    unit = "agent"

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        name = data.get("name") if data is not None else None
        if isinstance(name, str) and name != unit.dir.name:
            yield Hit(unit.file, unit.line_of("name"),
                      f"name {short(name)} must equal the folder name {unit.dir.name!r}")


class ManifestDescription(RequiredDescriptionRule):
    id = "SILO104"
    summary = "description is missing, empty or longer than 1024 characters"
    unit = "agent"
    blocking = True


class ManifestVersion(RequiredKeyRule):
    id = "SILO105"
    summary = "version is missing or not a semantic version (1.0.0)"
    unit = "agent"
    blocking = True
    key = "version"

    def check_value(self, value: Any, unit: DocumentUnit) -> str | None:
        if isinstance(value, str) and SEMVER_RE.match(value):
            return None
        return (f"version {short(value)} must be a semantic version like 1.0.0 "
                "(quote it if YAML reads it as a number)")


class ManifestModel(NonEmptyStringRule):
    id = "SILO106"
    summary = "model is not a non-empty string"
    unit = "agent"
    blocking = True
    key = "model"


class CapabilityExits(MappingKeyRule):
    id = "SILO107"
    summary = "capabilities is not a mapping of registered exit names to constraint mappings"
    unit = "agent"
    blocking = True
    key = "capabilities"
    not_a_mapping = "capabilities must be a mapping of exit names to constraints"

    def entry_problem(self, entry: Any, item: Any, ctx: LintContext) -> str | None:
        if not isinstance(entry, str) or entry not in ctx.registry:
            known = ", ".join(ctx.registry.names())
            return f"capability {short(entry)} names no registered exit (known: {known})"
        if item is not None and not isinstance(item, dict):
            return (f"capability {entry!r} must map to constraints (use {{}} for none), "
                    f"got {short(item)}")
        return None


def _constraint_items(unit: AgentUnit, ctx: LintContext) -> Iterator[tuple[str, str, Any, int]]:
    """(exit, constraint key, value, line) for every constraint of a registered exit."""
    caps = unit.capabilities() or {}
    for name, constraints in caps.items():
        if isinstance(name, str) and name in ctx.registry and isinstance(constraints, dict):
            for key, value in constraints.items():
                yield name, key, value, unit.line_of("capabilities", name, str(key))


class _ConstraintRule(Rule):
    """A check of each `key: value` constraint a capability sets on a registered exit."""

    unit = "agent"
    blocking = True

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        for name, key, value, line in _constraint_items(unit, ctx):
            spec = ctx.registry.get(name)
            problem = self.constraint_problem(spec, name, key, value) if spec is not None else None
            if problem:
                yield Hit(unit.file, line, problem)

    @abstractmethod
    def constraint_problem(self, spec: ExitSpec, name: str, key: str, value: Any) -> str | None:
        """What is wrong with constraint `key: value` on exit `name`, or None."""


class ConstraintKeys(_ConstraintRule):
    id = "SILO108"
    summary = "a capability sets a constraint its exit does not declare"

    def constraint_problem(self, spec: ExitSpec, name: str, key: str, value: Any) -> str | None:
        if key in spec.constraints:
            return None
        declared = ", ".join(sorted(spec.constraints)) or "none"
        return f"{name}: unknown constraint {short(key)} (the exit declares: {declared})"


class ConstraintTypes(_ConstraintRule):
    id = "SILO109"
    summary = "a constraint value has the wrong type for its rule"

    def constraint_problem(self, spec: ExitSpec, name: str, key: str, value: Any) -> str | None:
        constraint = spec.constraints.get(key)
        if constraint is None or constraint.value_ok(value):
            return None
        expected = {"<=": "a number", ">=": "a number",
                    "in": "a list of strings or numbers"}.get(constraint.rule,
                                                              "a string, number or boolean")
        return f"{name}: {key} must be {expected}, got {short(value)}"


class EmailTemplatesExist(Rule):
    id = "SILO110"
    summary = "email.send names a template that is not under templates/"
    unit = "agent"

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        caps = unit.capabilities() or {}
        constraints = caps.get("email.send")
        templates = constraints.get("templates") if isinstance(constraints, dict) else None
        if not isinstance(templates, list):
            return
        for index, name in enumerate(templates):
            line = unit.line_of("capabilities", "email.send", "templates", index)
            if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
                yield Hit(unit.file, line, f"email.send: template {short(name)} must be a "
                                           "lowercase-hyphenated template name")
            elif not template_path(unit.dir, name).is_file():
                yield Hit(unit.file, line, f"email.send: template {name!r} has no file "
                                           f"templates/{name}.md")


class ManifestLimits(MappingKeyRule):
    id = "SILO111"
    summary = "limits has an unknown key or a value that is not a positive integer"
    unit = "agent"
    blocking = True
    key = "limits"
    not_a_mapping = "limits must be a mapping"

    def entry_problem(self, entry: Any, item: Any, ctx: LintContext) -> str | None:
        if entry not in DEFAULT_LIMITS:
            return f"unknown limit {short(entry)} (known: {', '.join(DEFAULT_LIMITS)})"
        if not _is_int(item) or not 1 <= item <= LIMIT_MAX:
            return f"limit {entry} must be an integer from 1 to {LIMIT_MAX}, got {short(item)}"
        return None


class EscalateToShape(ListKeyRule):
    id = "SILO112"
    summary = "escalate_to is not a list of agent names or `human`"
    unit = "agent"
    blocking = True
    key = "escalate_to"
    not_a_list = "escalate_to must be a list of agent names or `human`"

    def item_problem(self, item: Any) -> str | None:
        return check_name_value(item, "escalate_to target")


class EscalateToExists(Rule):
    id = "SILO113"
    summary = "an escalate_to target is neither `human` nor an agent of the workspace"
    unit = "agent"

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        targets = data.get("escalate_to") if data is not None else None
        if not isinstance(targets, list):
            return
        for index, target in enumerate(targets):
            if not isinstance(target, str) or check_name_value(target) or target == HUMAN:
                continue
            line = unit.line_of("escalate_to", index)
            if target == data.get("name"):
                yield Hit(unit.file, line, f"escalate_to names the agent itself ({target!r})")
            elif target not in ctx.known_agents:
                yield Hit(unit.file, line, f"escalate_to target {target!r} is not an agent of "
                                           "the workspace (agents/<name>/AGENT.md) nor `human`")


class UnknownManifestKeys(UnknownKeysRule):
    id = "SILO114"
    summary = "unknown top-level frontmatter key (an error with --strict)"
    unit = "agent"
    known = MANIFEST_KEYS


class BodySections(Rule):
    id = "SILO115"
    summary = "AGENT.md body lacks a Purpose, Capabilities, Limitations or Escalation section"
    severity = WARNING
    unit = "agent"

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.doc is None or unit.data is None:
            return
        tokens = mdscan.parse(unit.doc.body)
        headings = {
            tokens[i + 1].content.strip().lower()
            for i, tok in enumerate(tokens)
            if tok.type == "heading_open" and i + 1 < len(tokens)
        }
        missing = [s for s in REQUIRED_SECTIONS if s.lower() not in headings]
        if missing:
            yield Hit(unit.file, unit.doc.body_line,
                      f"AGENT.md body has no section heading for: {', '.join(missing)}")


class MainMissing(Rule):
    id = "SILO116"
    summary = "the agent folder has no main.py"
    unit = "agent"

    def check(self, unit: AgentUnit, ctx: LintContext) -> Iterator[Hit]:
        if not (unit.dir / "main.py").is_file():
            yield Hit(unit.dir / "main.py", 1, f"agent folder {unit.dir.name!r} has no main.py")


RULES: tuple[Rule, ...] = (
    ManifestMissing(), ManifestFrontmatter(), ManifestName(), ManifestNameMatchesFolder(),
    ManifestDescription(), ManifestVersion(), ManifestModel(), CapabilityExits(),
    ConstraintKeys(), ConstraintTypes(), EmailTemplatesExist(), ManifestLimits(),
    EscalateToShape(), EscalateToExists(), UnknownManifestKeys(), BodySections(), MainMissing(),
)
