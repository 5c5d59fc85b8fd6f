"""`find_phones` with its sub-span choices listed once per candidate (`_phone_attempts`)
finds what the plain search over every pair of digit groups found (kept here as it was)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.spans import Span

PIECES = [
    "0412 345 678", "+61 4 1234 5678", "(02) 9123 4567", "415-555-0100", "1-800-555-0199",
    "+44 20 7946 0958", "0049 30 123456", "(0) ", "x23", " ext. 7", "49.99", "1 234 567",
    "2024-01-15", "0", "00", "1", "22", "333", "4444", "55555", " ", "  ", "-", ".", "(", ")",
    "+", ",", "a", "call ", "tel: ", "order ", "\n", "_", "@", "/",
]
texts = st.lists(st.sampled_from(PIECES), max_size=16).map("".join)


def plain_subspans(text: str, candidate: patterns._PhoneCandidate) -> list[Span]:
    """The sub-span search as first written: every (i, j) tried in place."""
    groups, digit_spans, sizes, totals = candidate
    found: list[Span] = []
    count = min(len(groups), 12)
    low, high = patterns._PHONE_DIGITS
    i = 0
    while i < count:
        start = groups[i][0]
        if i > 0:
            if not patterns._fresh_start(text, groups[i - 1], start):
                i += 1
                continue
        elif patterns._glued_before(text, start):
            i += 1
            continue
        hit = None
        for j in range(count, i, -1):
            if not low <= totals[j] - totals[i] <= high:
                continue
            end = groups[j - 1][1]
            if j == count:
                extension = patterns._EXTENSION_RE.match(text, end)
                if extension is None and patterns._glued_after(text, end):
                    continue
            elif text[end] != " ":
                continue
            else:
                extension = None
            digits = "".join([text[s:e] for s, e in digit_spans[i:j]])
            if patterns._phone_ok(text, start, end, sizes[i:j], digits):
                hit = j
                found.append(Span(start, extension.end() if extension else end, "phone"))
                break
        i = hit if hit is not None else i + 1
    return found


def plain_find_phones(text: str) -> list[Span]:
    spans: list[Span] = []
    for candidate in patterns._phone_candidates(text, 0, len(text)):
        spans.extend(plain_subspans(text, candidate))
    return spans


@given(texts)
@settings(max_examples=1500, deadline=None)
def test_listed_attempts_find_what_the_plain_search_finds(text: str) -> None:
    assert patterns.find_phones(text) == plain_find_phones(text)


def test_listed_attempts_on_hand_picked_texts() -> None:
    for text in [
        "call 0412 345 678 or 0413 999 000", "49.99 0412 345 678", "+61 4 1234 5678 x23",
        "ring 415-555-0100 ext. 7 now", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
        "order 12345678 9 0412345678", "(02) 9123 4567,5", "tel: 0049 30 123456",
    ]:
        assert patterns.find_phones(text) == plain_find_phones(text), text
    assert patterns.find_phones("call 0412 345 678 or 0413 999 000") != []
