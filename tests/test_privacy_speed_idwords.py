"""The "order/invoice/#" test before a 9-digit number, asked only when the window can hold
such a word (`_not_id_word_before`), answers what the regex answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns

PIECES = [
    "order", "Order", "ORDERS", "invoice", "ref", "reference", "tracking", "ticket", "case",
    "account", "acct", "po", "no", "nr", "id", "#", ".", ":", "::", " ", "  ", "\n", "\t",
    "\u00a0", "\u2003", "x", "a1", "9", "-", "_", "\u212a", "\u017f", "ca\u017fe", "tic\u212aet",
    "\u00e9", "word", "on",
]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@given(texts, st.data())
@settings(max_examples=3000, deadline=None)
def test_prefiltered_not_id_words_are_the_regex(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    expected = patterns._NOT_ID_WORDS_RE.search(text, max(0, start - 24), start) is not None
    assert patterns._not_id_word_before(text, start) is expected


def test_not_id_words_on_hand_picked_windows() -> None:
    for text, expected in [
        ("order 876543210", True), ("Order #: 876543210", True), ("ref.: 876543210", True),
        ("invoice no.\n876543210", True), ("ca\u017fe 876543210", True),
        ("my number 876543210", False), ("order: : 876543210", False), ("876543210", False),
        ("orders, 876543210", False),
    ]:
        start = text.index("876")
        assert patterns._not_id_word_before(text, start) is expected, text
        expected_regex = patterns._NOT_ID_WORDS_RE.search(text, max(0, start - 24), start)
        assert (expected_regex is not None) is expected, text
