"""Exit names <-> Messages-API tool names: a bijection over valid exit names (design §12)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "siloos" / "sdk"))

from silo.toolnames import ToolNameError, exit_to_tool_name, tool_to_exit_name

from siloos.exits import Registry
from siloos.exits.spec import EXIT_NAME

API_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_every_builtin_exit_round_trips():
    names = Registry.builtin().names()
    assert {"orders.list", "refunds.issue", "email.send", "llm"} <= set(names)
    tools = [exit_to_tool_name(n) for n in names]
    assert len(set(tools)) == len(tools)
    for name, tool in zip(names, tools, strict=True):
        assert API_TOOL_NAME.match(tool)
        assert tool_to_exit_name(tool) == name


def test_examples():
    assert exit_to_tool_name("orders.list") == "orders_list"
    assert tool_to_exit_name("orders_list") == "orders.list"
    # An exit whose own name has an underscore does not collide with a dotted one.
    assert exit_to_tool_name("orders_list") == "orders__list"
    assert tool_to_exit_name("orders__list") == "orders_list"
    assert exit_to_tool_name("a_.b") == "a___b" and tool_to_exit_name("a___b") == "a_.b"


segment = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
exit_names = st.lists(segment, min_size=1, max_size=4).map(".".join)


@given(exit_names, exit_names)
def test_bijection_property(a, b):
    assert EXIT_NAME.match(a)
    ta, tb = exit_to_tool_name(a), exit_to_tool_name(b)
    assert API_TOOL_NAME.match(ta)
    assert tool_to_exit_name(ta) == a
    assert (ta == tb) == (a == b)


@given(st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True))
def test_any_tool_name_decodes_to_its_only_preimage_or_is_refused(tool):
    try:
        name = tool_to_exit_name(tool)
    except ToolNameError:
        return
    assert EXIT_NAME.match(name) and exit_to_tool_name(name) == tool


@pytest.mark.parametrize("bad", ["Orders.list", "orders..list", ".x", "x.", "x-y", "", "a" * 65])
def test_invalid_exit_names_are_refused(bad):
    with pytest.raises(ToolNameError):
        exit_to_tool_name(bad)


@pytest.mark.parametrize("bad", ["_x", "x_", "x___", "Orders", "a-b", "has space", "", "é"])
def test_tool_names_naming_no_exit_are_refused(bad):
    with pytest.raises(ToolNameError):
        tool_to_exit_name(bad)
