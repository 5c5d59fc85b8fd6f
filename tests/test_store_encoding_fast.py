"""The fast JSON path (orjson) says exactly what the standard encoder would, or stands
aside: same value when read back, same refusals (NaN, infinity, what is not JSON), and
the standard encoder's answer for anything orjson is not asked to encode."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.store.encoding import _CANONICAL, _COMPACT, compact, dumps

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_fast_texts_read_back_as_the_standard_ones(value) -> None:
    for ours, standard in ((dumps, _CANONICAL.encode), (compact, _COMPACT.encode)):
        try:
            expected = standard(value)
        except (TypeError, ValueError):
            with pytest.raises((TypeError, ValueError)):
                ours(value)
            continue
        assert json.loads(ours(value)) == json.loads(expected)
    # Canonical means one text per value: key order never matters.
    if isinstance(value, dict):
        assert dumps(dict(reversed(list(value.items())))) == dumps(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, math.nan],
                                 {"a": {"b": math.inf}}, {"x": None, "y": math.nan}])
def test_nan_and_infinity_are_refused_as_before(bad) -> None:
    for ours in (dumps, compact):
        with pytest.raises(ValueError):
            ours(bad)


class Colour(enum.IntEnum):
    RED = 1


class Tag(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, {"n": 2**70}, Colour.RED, Tag("t"),
                                   {"k": Tag("v")}, {1: "int key"}, ("a", 1)])
def test_what_orjson_is_not_asked_is_the_standard_encoders_answer(value) -> None:
    assert dumps(value) == _CANONICAL.encode(value)
    assert compact(value) == _COMPACT.encode(value)


@pytest.mark.parametrize("value", [Point(1), datetime.datetime(2026, 1, 1), {1, 2},
                                   {"a": object()}])
def test_what_is_not_json_is_still_refused(value) -> None:
    for ours in (dumps, compact):
        with pytest.raises(TypeError):
            ours(value)
