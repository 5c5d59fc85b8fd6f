"""IPv6 candidates checked once per distinct spelling within a call find what checking
every occurrence with `ipaddress` finds."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns

PIECES = ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "::1", "1:2:3:4:5:6:7:8:9", "12:30:45",
          "2001:db8::1::2", "abcd::", " ", ".", "x", "a", "\n", "_", "2001:DB8::1", ":"]
texts = st.lists(st.sampled_from(PIECES), max_size=16).map("".join)


def library_valid(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


@given(texts)
@settings(max_examples=800, deadline=None)
def test_each_found_address_is_valid_and_repeats_are_found_alike(text: str) -> None:
    spans = patterns.find_ipv6(text)
    assert all(library_valid(text[s.start : s.end]) for s in spans)
    doubled = patterns.find_ipv6(text + " " + text)
    offset = len(text) + 1
    assert [s for s in doubled if s.start < offset] == spans
    assert [(s.start - offset, s.end - offset) for s in doubled if s.start >= offset] == [
        (s.start, s.end) for s in spans
    ]


def test_repeated_addresses_and_refusals() -> None:
    text = "from 2001:db8::1 and 2001:db8::1, not 2001:db8::1::2 or 2001:db8::1::2"
    assert [text[s.start : s.end] for s in patterns.find_ipv6(text)] == ["2001:db8::1"] * 2
