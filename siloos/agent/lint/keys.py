"""Rule shapes for frontmatter, shared by AGENT.md, procedures and workflows.

Every key rule starts the same way: no mapping to check means nothing to say (the
document-level `FrontmatterRule` reports a missing or broken document), and a finding
about a key points at the line the key sits on. The shapes here hold that once, so a rule
states only its key and what is wrong with the value. The name and description checks
live here too: all three kinds of document follow the Agent Skills rules for them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from siloos.agent.document import Document, DocumentError, short
from siloos.agent.lint.base import WARNING, DocumentUnit, Hit, LintContext, Rule, error_hit
from siloos.agent.manifest import DESCRIPTION_MAX, NAME_MAX, NAME_RE


def check_name_value(value: Any, what: str = "name") -> str | None:
    """Why `value` is not a valid Agent Skills name, or None when it is."""
    if not isinstance(value, str):
        return f"{what} must be a string, got {short(value)}"
    if not 1 <= len(value) <= NAME_MAX:
        return f"{what} must be 1..{NAME_MAX} characters, got {len(value)}"
    if not NAME_RE.match(value):
        return (f"{what} {short(value)} must be lowercase letters and digits with single "
                "hyphens inside (no leading, trailing or double hyphen)")
    return None


def check_description_value(value: Any) -> str | None:
    """Why `value` is not a valid description (1..1024 characters), or None."""
    if not isinstance(value, str):
        return f"description must be a string, got {short(value)}"
    if not value.strip():
        return "description must not be empty"
    if len(value) > DESCRIPTION_MAX:
        return f"description must be at most {DESCRIPTION_MAX} characters, got {len(value)}"
    return None


class RequiredKeyRule(Rule):
    """A key the document must have: missing is reported at line 1, a bad value at its key."""

    key: ClassVar[str]

    def check(self, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        if data is None:
            return
        if self.key not in data:
            yield Hit(unit.file, 1, f"missing required key `{self.key}`")
            return
        problem = self.check_value(data[self.key], unit)
        if problem:
            yield Hit(unit.file, unit.line_of(self.key), problem)

    @abstractmethod
    def check_value(self, value: Any, unit: DocumentUnit) -> str | None:
        """Why the key's value is wrong, or None when it is fine."""


class RequiredNameRule(RequiredKeyRule):
    """`name` must be present and follow the Agent Skills naming rules."""

    key = "name"

    def check_value(self, value: Any, unit: DocumentUnit) -> str | None:
        return check_name_value(value)


class RequiredDescriptionRule(RequiredKeyRule):
    """`description` must be present, non-empty and at most 1024 characters."""

    key = "description"

    def check_value(self, value: Any, unit: DocumentUnit) -> str | None:
        return check_description_value(value)


class OptionalKeyRule(Rule):
    """A key that may be absent or null; when it is set, `check_value` inspects it."""

    key: ClassVar[str]

    def check(self, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        if data is None or data.get(self.key) is None:
            return
        yield from self.check_value(data[self.key], unit, ctx)

    @abstractmethod
    def check_value(self, value: Any, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        """One Hit per problem with the (non-null) value."""


class NonEmptyStringRule(OptionalKeyRule):
    """An optional key whose value, when set, must be a non-blank string."""

    def check_value(self, value: Any, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        if not isinstance(value, str) or not value.strip():
            yield Hit(unit.file, unit.line_of(self.key),
                      f"{self.key} must be a non-empty string, got {short(value)}")


class MappingKeyRule(OptionalKeyRule):
    """An optional mapping: not a mapping is reported at the key, a bad entry at the entry."""

    #: The finding when the value is not a mapping at all.
    not_a_mapping: ClassVar[str]

    def check_value(self, value: Any, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        if not isinstance(value, dict):
            yield Hit(unit.file, unit.line_of(self.key), self.not_a_mapping)
            return
        for entry, item in value.items():
            problem = self.entry_problem(entry, item, ctx)
            if problem:
                yield Hit(unit.file, unit.line_of(self.key, str(entry)), problem)

    @abstractmethod
    def entry_problem(self, entry: Any, item: Any, ctx: LintContext) -> str | None:
        """What is wrong with one `entry: item` of the mapping, or None."""


class ListKeyRule(OptionalKeyRule):
    """An optional list: not a list is reported at the key, a bad item at the item."""

    #: The finding when the value is not a list at all.
    not_a_list: ClassVar[str]

    def check_value(self, value: Any, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        if not isinstance(value, list):
            yield Hit(unit.file, unit.line_of(self.key), self.not_a_list)
            return
        for index, item in enumerate(value):
            problem = self.item_problem(item)
            if problem:
                yield Hit(unit.file, unit.line_of(self.key, index), problem)

    @abstractmethod
    def item_problem(self, item: Any) -> str | None:
        """What is wrong with one item of the list, or None."""


class UnknownKeysRule(Rule):
    """A warning for each top-level key outside `known` (what validators of the spec reject)."""

    severity = WARNING
    known: ClassVar[frozenset[str]]

    def check(self, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        for key in unit.data or {}:
            if key not in self.known:
                yield Hit(unit.file, unit.line_of(str(key)),
                          f"unknown frontmatter key {short(key)} "
                          f"(known: {', '.join(sorted(self.known))})")


def duplicate_key_hits(file: Path, doc: Document) -> Iterator[Hit]:
    """One Hit per repeated key (YAML would silently keep the last one)."""
    for keypath, line in doc.duplicates:
        yield Hit(file, line, f"duplicate key {'.'.join(map(str, keypath))!r}")


class FrontmatterRule(Rule):
    """The document-level rule: unreadable or unparsable, no frontmatter, not a mapping.

    It also reports repeated keys. The key rules stay silent in all these cases, so each
    broken document is reported once, here.
    """

    #: Starts the finding for a load error this rule owns.
    error_prefix: ClassVar[str]
    #: The finding when the file has no frontmatter at all.
    missing: ClassVar[str]

    def owns(self, error: DocumentError) -> bool:
        """Whether this rule reports `error` (another rule may own unreadable files)."""
        return True

    def check(self, unit: DocumentUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None and self.owns(unit.error):
            yield error_hit(unit.file, unit.error, self.error_prefix)
            return
        doc = unit.doc
        if doc is None:
            return
        if not doc.has_frontmatter:
            yield Hit(unit.file, 1, self.missing)
        elif not isinstance(doc.data, dict):
            yield Hit(unit.file, 2, "frontmatter must be a mapping of keys, got "
                                    f"{type(doc.data).__name__}")
        yield from duplicate_key_hits(unit.file, doc)
