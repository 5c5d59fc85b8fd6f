"""Reading a frontmatter markdown (or YAML) file safely, with a line for every key.

Everything about agents starts here: bytes are read with a size cap, decoded as UTF-8,
split into YAML frontmatter and a markdown body, and the YAML is composed into nodes so
that each key and list item keeps the line it was written on. Problems raise
`DocumentError` with a line; nothing else escapes, whatever the input.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: AGENT.md, procedures and workflows are small hand-written files (and markdown becomes
#: the model's prompt); anything larger is refused before parsing, which also bounds the
#: time markdown-it's worst cases (thousands of unclosed brackets) can take.
MAX_FILE_BYTES = 256 * 1024

KeyPath = tuple[str | int, ...]

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2


def short(value: Any) -> str:
    """A bounded repr for messages: input may be huge or self-referencing (YAML aliases)."""
    return _short.repr(value)


class DocumentError(Exception):
    """A file cannot be read (`stage="read"`) or parsed (`"parse"`); `line` is 1-based or None."""

    def __init__(self, message: str, line: int | None = None, *, stage: str = "parse") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.stage = stage


@dataclass(frozen=True)
class Document:
    """A parsed file: frontmatter data, body, and the line of every key path."""

    path: Path
    text: str
    data: Any
    body: str
    #: 1-based line of the body's first line in the file.
    body_line: int
    has_frontmatter: bool
    lines: dict[KeyPath, int] = field(default_factory=dict)
    #: Key paths written twice in one mapping (YAML keeps the last silently).
    duplicates: tuple[tuple[KeyPath, int], ...] = ()

    def line_of(self, *keypath: str | int) -> int:
        """Line of the deepest known prefix of `keypath`; line 1 when nothing is known."""
        path: KeyPath = tuple(keypath)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 text file, refusing missing, oversized, binary or undecodable files."""
    # A FIFO or device would block or never end; only regular files are read.
    if path.exists() and not path.is_dir() and not path.is_file():
        raise DocumentError("not a regular file", stage="read")
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise DocumentError("file not found", stage="read") from None
    except IsADirectoryError:
        raise DocumentError("is a directory, expected a file", stage="read") from None
    except OSError as err:
        raise DocumentError(f"cannot read: {err.strerror or err}", stage="read") from None
    if len(raw) > max_bytes:
        raise DocumentError(f"file is larger than {max_bytes} bytes", stage="read")
    if b"\x00" in raw:
        raise DocumentError("binary file (contains NUL bytes)", stage="read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DocumentError("not valid UTF-8", line, stage="read") from None
    return text.removeprefix("\ufeff")


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """(frontmatter or None, body, 1-based body line). Raises if `---` is never closed."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None, text, 1
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise DocumentError("frontmatter starts with `---` but is never closed", 1)


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader whose constructor failures (bad dates, 5000-digit integers) keep a line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as err:  # int(), date() etc. raise many types
            raise yaml.constructor.ConstructorError(
                None, None, f"bad value: {short(str(err))}", node.start_mark) from None


def parse_yaml(text: str, *, first_line: int = 1) -> tuple[Any, dict[KeyPath, int],
                                                            list[tuple[KeyPath, int]]]:
    """Parse one YAML document: (data, key-path lines, duplicate keys).

    `first_line` is the file line of `text`'s first line, so reported lines are file lines.
    The pure-Python SafeLoader is used on purpose: its recursion is bounded by Python's
    limit (deep nesting becomes an error, not a crashed interpreter).
    """
    loader: _MarkedLoader | None = None
    try:
        loader = _MarkedLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, max(err.position, 0)) + first_line
        raise DocumentError(f"not valid YAML: character {err.character:#x} is not allowed",
                            line) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + first_line if mark is not None else first_line
        problem = err.problem or err.context or "syntax error"
        raise DocumentError(f"not valid YAML: {problem}", line) from None
    except RecursionError:
        raise DocumentError("not valid YAML: nested too deeply", first_line) from None
    except Exception as err:  # yaml constructors also raise ValueError, OverflowError...
        raise DocumentError(f"not valid YAML: {type(err).__name__}: {short(str(err))}",
                            first_line) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[KeyPath, int] = {}
    duplicates: list[tuple[KeyPath, int]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates, first_line, seen=set())
    return data, lines, duplicates


def _index_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int],
                 duplicates: list[tuple[KeyPath, int]], first_line: int, seen: set[int]) -> None:
    # Aliases make the node graph a DAG that can be exponentially large when unrolled
    # ("billion laughs"); each node is indexed once, at the first path that reaches it.
    if id(node) in seen or len(path) > 32:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*path, key)
            line = key_node.start_mark.line + first_line
            if child in lines:
                duplicates.append((child, line))
            else:
                lines[child] = line
            _index_lines(value_node, child, lines, duplicates, first_line, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.setdefault(child, item.start_mark.line + first_line)
            _index_lines(item, child, lines, duplicates, first_line, seen)


def load_document(path: Path, *, frontmatter: bool = True) -> Document:
    """Read and parse `path`: frontmatter markdown, or (frontmatter=False) a whole YAML file."""
    text = read_text(path)
    if not frontmatter:
        data, lines, dups = parse_yaml(text)
        return Document(path=path, text=text, data=data, body="", body_line=1,
                        has_frontmatter=True, lines=lines, duplicates=tuple(dups))
    head, body, body_line = split_frontmatter(text)
    if head is None:
        return Document(path=path, text=text, data=None, body=body, body_line=body_line,
                        has_frontmatter=False)
    data, lines, dups = parse_yaml(head, first_line=2)
    return Document(path=path, text=text, data=data, body=body, body_line=body_line,
                    has_frontmatter=True, lines=lines, duplicates=tuple(dups))
