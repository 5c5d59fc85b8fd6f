"""Fixtures more than one test module uses: a state store, a hop of the membrane test rig
(`test_membrane_support.make_hop`), and a hop whose membrane also knows `test.say`.

A module that needs another shape defines a fixture of the same name; pytest uses the
nearest one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_membrane_support import Hop, hop_with_exit, make_hop, say

from siloos.store import StateStore


def _closed_after(h: Hop) -> Iterator[Hop]:
    yield h
    h.store.close()
    h.backoffice.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    """A state store where a workspace keeps it (`.silo/state.db`)."""
    s = StateStore.open(tmp_path / ".silo" / "state.db")
    yield s
    s.close()


@pytest.fixture
def hop(tmp_path: Path) -> Iterator[Hop]:
    """A real hop (keys, store, vault, back office, membrane) with the built-in exits."""
    yield from _closed_after(make_hop(tmp_path))


@pytest.fixture
def say_hop(tmp_path: Path) -> Iterator[Hop]:
    """`hop`, its membrane also serving `test.say` (the same result for the same text)."""
    yield from _closed_after(hop_with_exit(tmp_path, say.__silo_exit__))
