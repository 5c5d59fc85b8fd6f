"""The IBAN probe `_find_numbers` skips (`_iban_possible` false) is one that finds nothing:
`find_ibans` over the same window returns no span."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.scantext import ScanText

PIECES = [
    "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432", "GB", "DE", "WEST", "AUD ", "REF-", "PC", "TF", "Ab", "12",
    "3", "0", "1234", "89", " ", "-", ".", "x", "a", "\n", "é", "ZZ99", "AA12BBBB", "0000",
]
texts = st.lists(st.sampled_from(PIECES), max_size=20).map("".join)


def skipped_probes_find_nothing(text: str) -> int:
    view = ScanText(text)
    shape = view.digit_shape
    assert shape is not None
    skipped = 0
    for start, end in view.number_runs:
        if start >= 2 and text[start - 2 : start].isupper():
            if not patterns._iban_possible(text, start, end, shape):
                skipped += 1
                assert patterns.find_ibans(text, start - 2, min(len(text), start + 48)) == []
    return skipped


@given(texts)
@settings(max_examples=2000, deadline=None)
def test_skipped_iban_probes_find_nothing(text: str) -> None:
    skipped_probes_find_nothing(text)


def test_skipped_probes_on_hand_picked_texts() -> None:
    text = "Paid AUD 12.50 for the parcel that came late, see REF-1234-AB."
    assert skipped_probes_find_nothing(text) == 2
    assert skipped_probes_find_nothing("Paid AUD 12.50 for REF-1234-AB, thanks.") == 1
    # The IBAN right after an amount is within the amount's window: not skipped.
    text = "AUD 12 DE89370400440532013000"
    assert skipped_probes_find_nothing(text) == 0
    assert patterns.find_ibans(text, 2, len(text)) != []
    # The tail runs of an IBAN probe windows that start after its country code.
    assert skipped_probes_find_nothing("GB82 WEST 1234 5698 7654 32" + " " * 40 + "x") == 1


def test_shortest_iban_at_the_window_edge_is_probed() -> None:
    # A 15-character IBAN ending exactly where the amount's probe window ends.
    iban = "NO9386011117947"
    text = "AUD 12" + " " * 31 + iban
    assert text.index(iban) + len(iban) == 4 + 48
    assert patterns.find_ibans(text, 2, 4 + 48) != []
    assert skipped_probes_find_nothing(text) == 0
    assert skipped_probes_find_nothing("AUD 12" + " " * 32 + iban) == 1
