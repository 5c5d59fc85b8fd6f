"""The number loop's shortcuts give what the plain computations give.

`_find_numbers` decides from a run's digit shape (once per distinct shape) which
recognizers may find anything in it; `ipv4_valid` replaces `ipaddress.IPv4Address`; birth
words pass over anchor hits that cannot start one. Each is checked against the computation
it replaces, on generated text and hand-picked cases.
"""

from __future__ import annotations

import ipaddress
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.scantext import ScanText

PIECES = [
    "0412 345 678", "+61 4 1234 5678", "(02) 9123 4567", "415-555-0100", "1-800-555-0199",
    "4111 1111 1111 1111", "378282246310005", "DE89 3704 0044 0532 0130 00", "10.0.0.254",
    "078-05-1120", "876 543 210", "876543210", "1962-07-04", "4/7/1962", "04.07.62", "49.99",
    "1 234 567", "007", "0", "1", "22", "333", "4444", " ", "-", ".", "/", "(", ")", "+", "a",
    "\u0664\u0661", "\uff10", "born", "Born", "morning", "Bob", "dob", "D.O.B", "b-day",
    "geboren", "Geburtstag", "birthdate", "gorn", "xborn", "\u00e9born", "_dob", "2born",
    "corner", "-day", "\u212a", "\n", "web", "deboren", "gEBURTSdatum", "eb",
]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def text_plan(text: str, start: int, end: int) -> tuple[object, ...]:
    """What the plan stands for, computed on the text with the original regexes."""
    chunk = text[start:end]
    if end - start <= 10 and patterns._PLAIN_DATE_RE.fullmatch(chunk):
        return ("date",)
    if start > 0 and text[start - 1] in "+(":
        start -= 1
    digits = sum(c.isdigit() for c in text[start:end])
    return (
        digits,
        digits >= 4 and chunk.count(".") >= 3,
        patterns._PHONE_MARK_RE.search(text, start, end) is not None,
        digits >= 9 and patterns._ID_SHAPE_RE.search(text, start, end) is not None,
    )


def shape_plan(text: str, start: int, end: int, shape: bytes) -> tuple[object, ...]:
    marked = start > 0 and text[start - 1] in "+("
    plan = patterns._run_plan(shape[start - 1 if marked else start : end], marked)
    if plan is patterns._PLAIN_DATE:
        return ("date",)
    if marked:
        start -= 1
    digits, dotted, mark, group_starts, id_shaped, group_leads = plan
    leading_zero = any(text[start + at] == "0" for at in group_starts)
    # The one-call form `_find_numbers` uses says the same as the loop.
    assert ("0" in group_leads(text[start:end])) == leading_zero
    return (digits, dotted, mark or leading_zero, id_shaped)


@given(texts)
@settings(max_examples=500, deadline=None)
def test_shape_plans_are_the_text_tests(text: str) -> None:
    view = ScanText(text)
    if view.digit_shape is None:
        for start, end in view.number_runs:
            marked = start > 0 and text[start - 1] in "+("
            plan = patterns._run_plan_of_text(text, start, end, marked)
            if plan is patterns._PLAIN_DATE:
                got: tuple[object, ...] = ("date",)
            else:
                got = (plan[0], plan[1], plan[2], plan[4])
            assert got == text_plan(text, start, end)
        return
    for start, end in view.number_runs:
        assert shape_plan(text, start, end, view.digit_shape) == text_plan(text, start, end)


def test_hand_picked_plans() -> None:
    for text in ["call +61 412 345 678", "(02) 9123 4567.", "5+61 412", "ref 415-555-0100",
                 "078-05-1120 and 078 05 1120", "1.2.3.4.5", "2024-01-15", "15/1/24",
                 "x 0412 345 678 10.0.0.1"]:
        view = ScanText(text)
        assert view.digit_shape is not None
        for start, end in view.number_runs:
            assert shape_plan(text, start, end, view.digit_shape) == text_plan(text, start, end)


def library_ipv4(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


OCTETS = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "255", "256", "300", "999",
          "010", "\u0661", "1\u0660", "\uff11"]


@given(st.lists(st.sampled_from(OCTETS), min_size=4, max_size=4))
@settings(max_examples=500, deadline=None)
def test_ipv4_valid_is_the_library(octets: list[str]) -> None:
    candidate = ".".join(octets)
    assert patterns.ipv4_valid(candidate) == library_ipv4(candidate)


def test_ipv4_valid_refuses_other_shapes() -> None:
    for candidate in ["1.2.3", "1.2.3.4.5", "", "1..2.3", "a.b.c.d", "1.2.3.4 "]:
        assert patterns.ipv4_valid(candidate) == library_ipv4(candidate)


def every_hit_birth_words(text: str) -> list[re.Match[str]]:
    """`_birth_words` as it was: every anchor hit walked back and matched."""
    folded = ScanText(text).folded
    assert folded is not None
    found: dict[int, re.Match[str]] = {}
    for anchor in (b"orn", b"irth", b"dob", b"d.o.b", b"eboren", b"eburts", b"-day"):
        hit = folded.find(anchor)
        while hit != -1:
            word_start = hit
            while word_start > 0 and hit - word_start < 8 and text[word_start - 1].isalpha():
                word_start -= 1
            word = patterns._BIRTH_WORDS_RE.match(text, word_start)
            if word is not None and word_start not in found:
                found[word_start] = word
            hit = folded.find(anchor, hit + 1)
    return [found[k] for k in sorted(found)]


@given(texts)
@settings(max_examples=500, deadline=None)
def test_birth_words_skip_only_hits_that_find_nothing_new(text: str) -> None:
    if ScanText(text).folded is None:
        return
    got = [m.span() for m in patterns._birth_words(text)]
    assert got == [m.span() for m in every_hit_birth_words(text)]


def test_birth_words_found_through_another_anchor() -> None:
    for text in ["born-day 1/2/1980", "xbirthday-day", "Geboren-day", "morning born"]:
        got = [m.span() for m in patterns._birth_words(text)]
        assert got == [m.span() for m in every_hit_birth_words(text)], text
    assert [m[0] for m in patterns._birth_words("born-day")] == ["born"]


CARD_PIECES = [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "378282246310005",
    "3782 822463 10005", "6011 0009 9013 9424", "5019 7170 1010 3742", "1800 1234 5678 902",
    "4111  1111 1111 1111", "4111 1111-1111 1111", "41 1111 1111 1111 1", "12.", "0", "7",
    " ", "-", ".", "(", "+", "x", "a", "@", "ext. 5", ",5",
]
card_texts = st.lists(st.sampled_from(CARD_PIECES), max_size=12).map("".join)


def planned_and_plain_cards(text: str) -> list[tuple[list[object], list[object]]]:
    view = ScanText(text)
    shape = view.digit_shape
    assert shape is not None
    pairs = []
    for start, end in view.number_runs:
        if start > 0 and text[start - 1] in "+(":
            start -= 1
        plan = patterns._card_plan(shape[start:end])
        pairs.append((patterns._planned_cards(text, start, plan),
                       patterns.find_cards(text, start, end)))
    return pairs


@given(card_texts)
@settings(max_examples=500, deadline=None)
def test_planned_cards_are_find_cards(text: str) -> None:
    for planned, plain in planned_and_plain_cards(text):
        assert planned == plain


def test_planned_cards_on_hand_picked_runs() -> None:
    for text in ["pay 4111 1111 1111 1111 now", "x4111111111111111", "4111-1111-1111-1111-",
                 "12.4111 1111 1111 1111", "5019 7170 1010 3742 4111 1111 1111 1111",
                 "card 4111 1111 1111 1111.5", "(4111 1111 1111 1111)"]:
        pairs = planned_and_plain_cards(text)
        assert all(planned == plain for planned, plain in pairs), text
    assert any(planned for planned, _ in planned_and_plain_cards("pay 4111 1111 1111 1111"))


PHONE_PIECES = [
    "0412 345 678", "+61 4 1234 5678", "(02) 9123 4567", "415-555-0100", "1-800-555-0199",
    "+49(0)5359519423", "+44(0)114 496 0402", "0049 30 12345678", "(0439 821 870)",
    "212.555.0199", "49.99", "1 234 567", "5555555", "x23", " ext. 7", "call ", "tel",
    " ", "-", ".", "(", ")", "+", "0", "7", "a", ",", "/", "\u00e9", "mobile: ", "recall ",
]
phone_texts = st.lists(st.sampled_from(PHONE_PIECES), max_size=12).map("".join)


def planned_and_plain_phones(text: str) -> list[tuple[list[object], list[object]]]:
    view = ScanText(text)
    shape = view.digit_shape
    assert shape is not None
    pairs = []
    for start, end in view.number_runs:
        if start > 0 and text[start - 1] in "+(":
            start -= 1
        plain = patterns.find_phones(text, start, end)
        pairs.append((patterns._planned_phones(text, start, shape[start:end]), plain))
        # With the text's shape, phone words are looked up in it instead of by regex.
        pairs.append((patterns._planned_phones(text, start, shape[start:end], shape), plain))
    return pairs


@given(phone_texts)
@settings(max_examples=500, deadline=None)
def test_planned_phones_are_find_phones(text: str) -> None:
    for planned, plain in planned_and_plain_phones(text):
        assert planned == plain


def test_planned_phones_on_hand_picked_runs() -> None:
    for text in ["call 0412 345 678 now", "from 49.99 0412 345 678", "1,49 0412 345 678",
                 "tel 212.555.0199.", "ring (0439 821 870) x", "+1-641-573-4015x7442",
                 "0412 345 678 0413 345 678"]:
        pairs = planned_and_plain_phones(text)
        assert all(planned == plain for planned, plain in pairs), text
    assert any(planned for planned, _ in planned_and_plain_phones("call 0412 345 678"))


ID_PIECES = [
    "078-05-1120", "078 05 1120", "876 543 210", "876543210", "123 456782", "666-12-3456",
    "SSN ", "TFN: ", "order ", "# ", "ref ", "x", "a", " ", "-", ".", "0", "7", "5",
]
id_texts = st.lists(st.sampled_from(ID_PIECES), max_size=12).map("".join)


def planned_and_plain_ids(text: str) -> list[tuple[list[object], list[object]]]:
    view = ScanText(text)
    shape = view.digit_shape
    assert shape is not None
    pairs = []
    for start, end in view.number_runs:
        if start > 0 and text[start - 1] in "+(":
            start -= 1
        pairs.append((patterns._planned_ids(text, start, shape[start:end]),
                       patterns.find_national_ids(text, start, end)))
    return pairs


@given(id_texts)
@settings(max_examples=500, deadline=None)
def test_planned_ids_are_find_national_ids(text: str) -> None:
    for planned, plain in planned_and_plain_ids(text):
        assert planned == plain


def test_planned_ids_on_hand_picked_runs() -> None:
    for text in ["SSN 078-05-1120.", "TFN: 876 543 210", "order 876543210", "x078-05-1120",
                 "ssn 876 543 210 078-05-1120", "1-078-05-1120"]:
        pairs = planned_and_plain_ids(text)
        assert all(planned == plain for planned, plain in pairs), text
    assert any(planned for planned, _ in planned_and_plain_ids("SSN 078-05-1120"))
