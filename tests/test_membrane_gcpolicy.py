"""The GC setting a serving membrane gives its process (siloos/membrane/gcpolicy.py)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from siloos.membrane.gcpolicy import YOUNG_THRESHOLD, raise_young_threshold


@pytest.fixture(autouse=True)
def _gc_threshold_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_young_threshold_is_raised_and_the_older_ones_kept() -> None:
    gc.set_threshold(700, 11, 12)
    raise_young_threshold()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


def test_a_higher_threshold_is_never_lowered() -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 5, 10, 10)
    raise_young_threshold()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 5


def test_collection_switched_off_by_the_program_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    raise_young_threshold()
    assert gc.get_threshold()[0] == 0


def test_a_membrane_that_starts_serving_raises_it(hop, tmp_path) -> None:
    gc.set_threshold(700, 10, 10)

    async def serve() -> None:
        await hop.membrane.start(tmp_path / "m.sock")
        await hop.membrane.stop()

    asyncio.run(serve())
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
