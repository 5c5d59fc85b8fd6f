"""The in-cell SDK's copy of the exit-name rule is the host's rule, character for character.

The SDK cannot import `siloos` (it runs in the cell, stdlib only), so `silo.toolnames`
carries its own `EXIT_NAME`; this test is what keeps the two copies from drifting.
"""

from __future__ import annotations

import sys

import pytest

from siloos.exits.spec import EXIT_NAME as HOST_EXIT_NAME
from siloos.sdk import SDK_DIR

sys.path.insert(0, str(SDK_DIR))

from silo.toolnames import EXIT_NAME as SDK_EXIT_NAME


def test_sdk_and_host_exit_name_rules_are_the_same_pattern() -> None:
    assert SDK_EXIT_NAME.pattern == HOST_EXIT_NAME.pattern
    assert SDK_EXIT_NAME.flags == HOST_EXIT_NAME.flags


@pytest.mark.parametrize("name", ["orders.get", "a_b.c_d", "x", "orders..get", "Orders.get",
                                  "_a", "a._b", "a.", "1a", "a-b", "a.b\n"])
def test_both_rules_agree_on_names(name: str) -> None:
    assert bool(SDK_EXIT_NAME.match(name)) == bool(HOST_EXIT_NAME.match(name))


def test_sdk_dir_is_the_folder_cells_get() -> None:
    assert (SDK_DIR / "bootstrap.py").is_file() and (SDK_DIR / "silo" / "__init__.py").is_file()
