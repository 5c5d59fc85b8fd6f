"""SILO3xx: markdown files and their links.

Agent folders travel as packs and are read by the SDK's prompt builder, so a link must
point at a file that exists and stays inside the workspace: no `../` walking out, no
absolute paths, no `file:`/`javascript:` schemes. Web links (http, https) and `mailto:`
are fine; a template placeholder (`{{ url }}`) is filled host-side and is not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
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


class MarkdownUnreadable(Rule):
    id = "SILO301"
    summary = "a markdown file is unreadable (not UTF-8, binary or too large)"
    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            yield error_hit(unit.path, unit.error, "cannot read markdown")


class LinkResolves(Rule):
    id = "SILO302"
    summary = "a relative link points at a file that does not exist"
    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            return
        root = ctx.link_root.resolve()
        for link in mdscan.links(unit.body, unit.body_line):
            path = _local_target(link.target)
            if path is None or path.startswith(("/", "\\")):
                continue
            resolved = _resolve(unit, path)
            if resolved is None or not resolved.is_relative_to(root):
                continue  # SILO303 reports it
            if not resolved.exists():
                yield Hit(unit.path, link.line, f"link target {link.target!r} does not exist")


class LinkStaysInside(Rule):
    id = "SILO303"
    summary = "a link is an absolute path or escapes the workspace"
    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            return
        root = ctx.link_root.resolve()
        for link in mdscan.links(unit.body, unit.body_line):
            path = _local_target(link.target)
            if path is None:
                continue
            if path.startswith(("/", "\\")):
                yield Hit(unit.path, link.line,
                          f"link {link.target!r} is an absolute path; use a relative link")
                continue
            resolved = _resolve(unit, path)
            if resolved is None or not resolved.is_relative_to(root):
                yield Hit(unit.path, link.line,
                          f"link {link.target!r} leaves the workspace ({root})")


class LinkScheme(Rule):
    id = "SILO304"
    summary = "a link uses a scheme other than http, https or mailto"
    unit = "markdown"

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            return
        for link in mdscan.links(unit.body, unit.body_line):
            target = link.target.strip()
            if not target or "{{" in unquote(target):
                continue
            parts = _split(target)
            if parts is None:
                yield Hit(unit.path, link.line, f"link {target!r} is not a valid URL")
            elif parts.scheme and parts.scheme.lower() not in ALLOWED_SCHEMES:
                yield Hit(unit.path, link.line, f"link {target!r} uses the "
                                                f"{parts.scheme.lower()}: scheme; only "
                                                "http, https, mailto or relative links")
            elif not parts.scheme and parts.netloc:
                yield Hit(unit.path, link.line, f"link {target!r} is protocol-relative; "
                                                "write https:// explicitly")


RULES: tuple[Rule, ...] = (MarkdownUnreadable(), LinkResolves(), LinkStaysInside(),
                           LinkScheme())
