"""SILO3xx: markdown files and their links.

Agent folders travel as packs and are read by the SDK's prompt builder, so a link must
point at a file that exists and stays inside the workspace: no `../` walking out, no
absolute paths, no `file:`/`javascript:` schemes. Web links (http, https) and `mailto:`
are fine; a template placeholder (`{{ url }}`) is filled host-side and is not checked.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from siloos.agent.lint import mdscan
from siloos.agent.lint.base import Hit, LintContext, MarkdownUnit, Rule, error_hit

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})


def _split(target: str) -> SplitResult | None:
    try:
        return urlsplit(target)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None


def _local_target(target: str) -> str | None:
    """The local path a link points at, or None for web links, anchors and placeholders."""
    target = target.strip()
    if not target or target.startswith("#") or "{{" in unquote(target):
        return None
    parts = _split(target)
    if parts is None or parts.scheme or parts.netloc:
        return None
    return unquote(parts.path)


def _resolve(unit: MarkdownUnit, path: str) -> Path | None:
    try:
        return (unit.path.parent / path).resolve()
    except (OSError, ValueError, RuntimeError):
        return None


@dataclass(frozen=True)
class _Landing:
    """Where a link to a local file lands; `inside` is None when it is absolute or escapes."""

    absolute: bool
    inside: Path | None


def _landing(unit: MarkdownUnit, target: str, root: Path) -> _Landing | None:
    """Where `target` lands relative to `root`, or None when it is not a local file link."""
    path = _local_target(target)
    if path is None:
        return None
    if path.startswith(("/", "\\")):
        return _Landing(absolute=True, inside=None)
    resolved = _resolve(unit, path)
    inside = resolved if resolved is not None and resolved.is_relative_to(root) else None
    return _Landing(absolute=False, inside=inside)


class _LinkRule(Rule):
    """A check of each link of a readable markdown file (an unreadable one is SILO301's)."""

    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            return
        root = ctx.link_root.resolve()
        for link in mdscan.links(unit.body, unit.body_line):
            problem = self.link_problem(link.target, unit, root)
            if problem:
                yield Hit(unit.path, link.line, problem)

    @abstractmethod
    def link_problem(self, target: str, unit: MarkdownUnit, root: Path) -> str | None:
        """What is wrong with one link target, or None; `root` is where links must stay."""


class MarkdownUnreadable(Rule):
    id = "SILO301"
    summary = "a markdown file is unreadable (not UTF-8, binary or too large)"
    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            yield error_hit(unit.path, unit.error, "cannot read markdown")


class LinkResolves(_LinkRule):
    id = "SILO302"
    summary = "a relative link points at a file that does not exist"

    def link_problem(self, target: str, unit: MarkdownUnit, root: Path) -> str | None:
        landing = _landing(unit, target, root)
        # An absolute or escaping link is SILO303's; only a link inside can be missing.
        if landing is None or landing.inside is None or landing.inside.exists():
            return None
        return f"link target {target!r} does not exist"


class LinkStaysInside(_LinkRule):
    id = "SILO303"
    summary = "a link is an absolute path or escapes the workspace"

    def link_problem(self, target: str, unit: MarkdownUnit, root: Path) -> str | None:
        landing = _landing(unit, target, root)
        if landing is None or landing.inside is not None:
            return None
        if landing.absolute:
            return f"link {target!r} is an absolute path; use a relative link"
        return f"link {target!r} leaves the workspace ({root})"


class LinkScheme(_LinkRule):
    id = "SILO304"
    summary = "a link uses a scheme other than http, https or mailto"

    def link_problem(self, target: str, unit: MarkdownUnit, root: Path) -> str | None:
        target = target.strip()
        if not target or "{{" in unquote(target):
            return None
        parts = _split(target)
        if parts is None:
            return f"link {target!r} is not a valid URL"
        if parts.scheme and parts.scheme.lower() not in ALLOWED_SCHEMES:
            return (f"link {target!r} uses the {parts.scheme.lower()}: scheme; only "
                    "http, https, mailto or relative links")
        if not parts.scheme and parts.netloc:
            return f"link {target!r} is protocol-relative; write https:// explicitly"
        return None


RULES: tuple[Rule, ...] = (MarkdownUnreadable(), LinkResolves(), LinkStaysInside(),
                           LinkScheme())
