"""SILO2xx: procedures (design §3.2), an agent's own and the workspace's shared ones.

An agent procedure may only use what its agent's capabilities grant; a workspace
procedure may use any registered exit. Either way, an exit named in the body as inline
code must be declared in `uses`, so a reader (and the SDK prompt) never sees a step that
the procedure does not admit to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from siloos.agent.document import short
from siloos.agent.lint import mdscan
from siloos.agent.lint.base import Hit, LintContext, ProcedureUnit, Rule
from siloos.agent.lint.keys import (
    FrontmatterRule,
    ListKeyRule,
    NonEmptyStringRule,
    RequiredDescriptionRule,
    RequiredNameRule,
    UnknownKeysRule,
)
from siloos.agent.manifest import PROCEDURE_KEYS

#: A code span that names a tool: `refunds.issue` or `refunds.issue(order, amount)`.
_CALLISH = re.compile(r"^\s*([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\s*(?:\(.*\))?\s*$", re.S)


def _uses(unit: ProcedureUnit) -> list[tuple[int, str]] | None:
    """(index, name) of the string entries of a well-formed `uses`, [] when absent."""
    data = unit.data
    if data is None:
        return None
    uses = data.get("uses")
    if uses is None:
        return []
    if not isinstance(uses, list):
        return None
    return [(i, name) for i, name in enumerate(uses) if isinstance(name, str)]


def _uses_at(unit: ProcedureUnit) -> Iterator[tuple[str, int]]:
    """(exit name, line) of each string entry of a well-formed `uses`."""
    for index, name in _uses(unit) or []:
        yield name, unit.line_of("uses", index)


class ProcedureFrontmatter(FrontmatterRule):
    id = "SILO201"
    summary = "procedure is unreadable, or its frontmatter is missing, invalid or not a mapping"
    unit = "procedure"
    blocking = True
    error_prefix = "procedure"
    missing = "procedure must start with YAML frontmatter (name, description, uses, when)"


class ProcedureName(RequiredNameRule):
    id = "SILO202"
    summary = "procedure name is missing or not lowercase-hyphenated (1..64 characters)"
    unit = "procedure"
    blocking = True


class ProcedureDescription(RequiredDescriptionRule):
    id = "SILO203"
    summary = "procedure description is missing, empty or longer than 1024 characters"
    unit = "procedure"
    blocking = True


class ProcedureUsesShape(ListKeyRule):
    id = "SILO204"
    summary = "procedure `uses` is not a list of exit names"
    unit = "procedure"
    blocking = True
    key = "uses"
    not_a_list = "uses must be a list of exit names"

    def item_problem(self, item: Any) -> str | None:
        if isinstance(item, str):
            return None
        return f"uses entry must be an exit name, got {short(item)}"


class ProcedureWhen(NonEmptyStringRule):
    id = "SILO205"
    summary = "procedure `when` is not a non-empty string"
    unit = "procedure"
    blocking = True
    key = "when"


class ProcedureUsesRegistered(Rule):
    id = "SILO206"
    summary = "procedure `uses` names an exit that is not registered"
    unit = "procedure"

    def check(self, unit: ProcedureUnit, ctx: LintContext) -> Iterator[Hit]:
        for name, line in _uses_at(unit):
            if name not in ctx.registry:
                yield Hit(unit.file, line, f"uses {name!r}, which is not a registered exit "
                                           f"(known: {', '.join(ctx.registry.names())})")


class ProcedureUsesSubset(Rule):
    id = "SILO207"
    summary = "an agent procedure uses an exit its agent's capabilities do not grant"
    unit = "procedure"

    def check(self, unit: ProcedureUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.agent is None:
            return
        caps = unit.agent.capabilities()
        if caps is None and unit.agent.data is None:
            return  # the manifest itself is broken; SILO1xx says so
        granted = set(caps or {})
        for name, line in _uses_at(unit):
            if name in ctx.registry and name not in granted:
                yield Hit(unit.file, line, f"uses {name!r}, but agent {unit.agent.dir.name!r} "
                                           "has no such capability")


class ProcedureBodyExits(Rule):
    id = "SILO208"
    summary = "the procedure body names an exit in inline code that `uses` does not declare"
    unit = "procedure"

    def check(self, unit: ProcedureUnit, ctx: LintContext) -> Iterator[Hit]:
        uses = _uses(unit)
        if uses is None or unit.doc is None:
            return
        declared = {name for _i, name in uses}
        for content, line in mdscan.code_spans(unit.doc.body, unit.doc.body_line):
            match = _CALLISH.match(content)
            if match and match.group(1) in ctx.registry and match.group(1) not in declared:
                yield Hit(unit.file, line, f"body uses `{match.group(1)}` but the "
                                           "frontmatter's `uses` does not declare it")


class UnknownProcedureKeys(UnknownKeysRule):
    id = "SILO209"
    summary = "unknown procedure frontmatter key (an error with --strict)"
    unit = "procedure"
    known = PROCEDURE_KEYS


RULES: tuple[Rule, ...] = (
    ProcedureFrontmatter(), ProcedureName(), ProcedureDescription(), ProcedureUsesShape(),
    ProcedureWhen(), ProcedureUsesRegistered(), ProcedureUsesSubset(), ProcedureBodyExits(),
    UnknownProcedureKeys(),
)
