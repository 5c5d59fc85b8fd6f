"""`find_dates_of_birth` searching only windows that hold a digit finds what the search of
every window found (kept here as it was)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.scantext import ScanText
from siloos.privacy.spans import Span

PIECES = [
    "born ", "Born on ", "DOB: ", "date of birth ", "birthday", "geboren am ", "b-day ",
    "04/07/1962", "1962-07-04", "4.7.62", "July 4, 1962", "4 July 1962", "4th of July 1962",
    "dob_tk_00000000000000000000", "12", "7", " ", ", ", ".", "-", "/", "x", "a", "\n",
    "\u0664", "lorem ipsum dolor sit amet ", "on ",
]
texts = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)


def every_window_dates(text: str) -> list[Span]:
    """The search as it was: both windows of every birth word searched with the regex."""
    spans = []
    for word in patterns._birth_words(text, ScanText(text)):
        after = [
            m for m in patterns._DATE_RE.finditer(text, word.end(), min(len(text), word.end() + 48))
            if patterns._date_plausible(m)
        ]
        done = text.find("dob_tk_", word.end(), word.end() + 48)
        if done != -1 and (not after or done < after[0].start()):
            continue
        if after:
            spans.append(Span(after[0].start(), after[0].end(), "dob"))
            continue
        before = [
            m for m in patterns._DATE_RE.finditer(text, max(0, word.start() - 32), word.start())
            if patterns._date_plausible(m)
        ]
        if before:
            spans.append(Span(before[-1].start(), before[-1].end(), "dob"))
    return spans


@given(texts)
@settings(max_examples=1500, deadline=None)
def test_digit_windows_find_what_every_window_finds(text: str) -> None:
    assert patterns.find_dates_of_birth(text) == every_window_dates(text)
    assert patterns.find_dates_of_birth(text, ScanText(text)) == every_window_dates(text)


def test_dates_on_hand_picked_texts() -> None:
    for text in [
        "I was born on 04/07/1962.", "04/07/1962 is my birthday", "DOB: July 4, 1962",
        "born" + " " * 60 + "04/07/1962", "04/07/1962" + " " * 25 + "born lorem ipsum",
        "born dob_tk_00000000000000000000 and 04/07/1962",
    ]:
        assert patterns.find_dates_of_birth(text) == every_window_dates(text), text
    assert patterns.find_dates_of_birth("I was born on 04/07/1962.") == [Span(14, 24, "dob")]
