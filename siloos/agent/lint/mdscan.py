"""Walking a markdown body with markdown-it-py, keeping file line numbers.

Block tokens carry their source lines (`token.map`); inline children do not, so their
line is the block's first line plus the soft and hard breaks before them. Links are
collected with markdown-it's link validation switched off: the default refuses
`javascript:`/`file:` links by not parsing them at all, and lint must see them to report.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_HTML_URL = re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


@dataclass(frozen=True)
class InlineItem:
    """An inline token with the file line it sits on."""

    token: Token
    line: int


@dataclass(frozen=True)
class Link:
    """A link or image target written in markdown or inline/block HTML."""

    target: str
    line: int


@functools.lru_cache(maxsize=16)
def parse(body: str) -> tuple[Token, ...]:
    """Tokens of `body`, cached: several rules walk the same file (treat as read-only)."""
    return tuple(_parser().parse(body))


def inline_items(body: str, body_line: int) -> Iterator[InlineItem]:
    """Every inline token of the body, with its 1-based file line."""
    for block in parse(body):
        if block.type != "inline" or block.map is None:
            continue
        line = body_line + block.map[0]
        for child in block.children or []:
            yield InlineItem(child, line)
            if child.type in ("softbreak", "hardbreak"):
                line += 1


def links(body: str, body_line: int) -> Iterator[Link]:
    """Every link/image target in the body (markdown syntax and raw HTML href/src)."""
    for block in parse(body):
        if block.type == "html_block" and block.map is not None:
            for match in _HTML_URL.finditer(block.content):
                line = body_line + block.map[0] + block.content.count("\n", 0, match.start())
                yield Link(match.group(1) if match.group(1) is not None else match.group(2),
                           line)
    for item in inline_items(body, body_line):
        token = item.token
        if token.type == "link_open":
            yield Link(str(token.attrGet("href") or ""), item.line)
        elif token.type == "image":
            yield Link(str(token.attrGet("src") or ""), item.line)
        elif token.type == "html_inline":
            for match in _HTML_URL.finditer(token.content):
                yield Link(match.group(1) if match.group(1) is not None else match.group(2),
                           item.line)


def code_spans(body: str, body_line: int) -> Iterator[tuple[str, int]]:
    """(content, line) of every inline code span."""
    for item in inline_items(body, body_line):
        if item.token.type == "code_inline":
            yield item.token.content, item.line
