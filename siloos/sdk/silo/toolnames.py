"""Exit names <-> Messages-API tool names, both ways (design §12). Stdlib only.

The Messages API accepts tool names matching ``^[a-zA-Z0-9_-]{1,64}$``; exit names are
dotted lowercase words whose segments may themselves contain underscores
(``^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$``). Mapping "." to "_" alone would make
``orders.list`` and an exit called ``orders_list`` collide, so an underscore is written
doubled: ``orders.list -> orders_list``, ``orders_list -> orders__list``,
``a_.b -> a___b``. Decoding reads left to right, "__" before "_". This is a bijection
over valid exit names because a segment never starts with "_" (so "._" never occurs).
"""

from __future__ import annotations

import re

EXIT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ToolNameError(ValueError):
    """A name that cannot cross the Messages-API boundary."""


def exit_to_tool_name(exit_name: str) -> str:
    """`orders.list` -> `orders_list`; raises ToolNameError for a non-exit name or overlong."""
    if not isinstance(exit_name, str) or not EXIT_NAME.match(exit_name):
        raise ToolNameError(f"not an exit name: {exit_name!r}")
    tool = exit_name.replace("_", "__").replace(".", "_")
    if not TOOL_NAME.match(tool):
        raise ToolNameError(f"exit name {exit_name!r} is too long for a tool name (64 max)")
    return tool


def tool_to_exit_name(tool_name: str) -> str:
    """`orders_list` -> `orders.list`; raises ToolNameError when no exit name maps to it."""
    if not isinstance(tool_name, str) or not TOOL_NAME.match(tool_name):
        raise ToolNameError(f"not a tool name: {tool_name!r}")
    out: list[str] = []
    i = 0
    while i < len(tool_name):
        if tool_name.startswith("__", i):
            out.append("_")
            i += 2
        elif tool_name[i] == "_":
            out.append(".")
            i += 1
        else:
            out.append(tool_name[i])
            i += 1
    name = "".join(out)
    # Only names that encode back to exactly this tool name are accepted, so the
    # mapping stays one-to-one even for strings the model invents.
    if not EXIT_NAME.match(name) or exit_to_tool_name(name) != tool_name:
        raise ToolNameError(f"tool name {tool_name!r} names no exit")
    return name
