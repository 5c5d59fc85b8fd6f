"""The shared scan passes and the work the pattern detector skips change no result.

`ScanText` derives its passes in cheaper ways than the obvious regexes; the detector skips
recognizers where their findings would be merged away. Each shortcut is checked here
against the plain computation it replaces, on hand-picked edge cases and on generated text.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.detect import CompositeDetector, KnownValueDetector, PatternDetector
from siloos.privacy.scantext import NUMBER_RUN_RE, ScanText, find_in, foldable
from siloos.privacy.spans import Span, merge_spans

LOOSE_RUN_RE = re.compile(r"[+(]?\d(?:[\d\s().\-/]*\d)?")

# Pieces that make number-shaped text, the separators around it and the characters whose
# case or digit-ness is unusual (Kelvin sign, dotted capital I, Arabic-Indic and fullwidth
# digits, final sigma, no-break space).
PIECES = [
    "0412 345 678", "+61 4 1234 5678", "(02) 9123 4567", "415-555-0100", "1-800-555-0199",
    "4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432", "NL91 ABNA 0417 1643 00", "10.0.0.254", "2001:db8::1", "078-05-1120",
    "876 543 210", "876543210", "1962-07-04", "4/7/1962", "July 4, 1962", "49.99", "1 234 567",
    "x23", " ext. 7", "born", "DOB", "Geburtsdatum", "call", "phone", "order", "#", "v", "TFN",
    "ssn", "card", "IBAN", "\u212a", "\u0130", "\u0664\u0661\u0662", "\uff10\uff14", "\u03a3",
    "\u00a0", "\t", "\n", " ", "-", ".", "/", "(", ")", "+", ",", ":", "a", "Z", "?", "@",
    "ann@example.com", "email_tk_abcdefghijkl",
]
texts = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)


@given(texts)
@settings(max_examples=400, deadline=None)
def test_runs_equal_their_regexes(text: str) -> None:
    view = ScanText(text)
    assert view.number_runs == [m.span() for m in NUMBER_RUN_RE.finditer(text)]
    assert view.loose_number_runs == [m.span() for m in LOOSE_RUN_RE.finditer(text)]


def test_runs_keep_non_ascii_digits() -> None:
    text = "call \u0660\u0664\u0661\u0662 345 678 or 0412 345 678 \u20ac"
    assert ScanText(text).number_runs == [m.span() for m in NUMBER_RUN_RE.finditer(text)]
    assert ScanText(text).number_runs[0][0] == 5  # the Arabic-Indic digits are a run


@given(texts, st.sampled_from(["orn", "irth", "dob", "d.o.b", "-day", "k", "banksia", "x"]))
@settings(max_examples=400, deadline=None)
def test_folded_finds_what_lowered_finds(text: str, needle: str) -> None:
    view = ScanText(text)
    lowered = text.lower()
    if len(lowered) != len(text):
        assert view.folded is None and view.lowered is None
        return
    assert view.lowered == lowered
    assert view.folded is not None and len(view.folded) == len(text)
    hits = [m.start() for m in re.finditer(re.escape(needle), lowered)]
    folded_hits = [m.start() for m in re.finditer(re.escape(needle.encode()), view.folded)]
    assert folded_hits == hits


def test_kelvin_sign_folds_to_k_and_dotted_i_disables_folding() -> None:
    assert ScanText("BAN\u212aSIA").folded == b"banksia"
    assert ScanText("\u0130stanbul").folded is None
    assert foldable("banksia") and not foldable("m\u00fcller") and not foldable("a?b")


def reference_find(text: str) -> list[Span]:
    """The pattern detector without any skipped work: every recognizer on every run."""
    spans: list[Span] = []
    spans += patterns.find_emails(text) + patterns.find_ipv6(text)
    spans += patterns.find_dates_of_birth(text)
    for match in NUMBER_RUN_RE.finditer(text):
        start, end = match.span()
        if start >= 2 and text[start - 2 : start].isupper():
            spans += patterns.find_ibans(text, start - 2, min(len(text), start + 48))
        if end - start < 7 or patterns._PLAIN_DATE_RE.fullmatch(match[0]):
            continue
        if start > 0 and text[start - 1] in "+(":
            start -= 1
        for recognizer in patterns.NUMBER_KINDS.values():
            spans += recognizer(text, start, end)
    return merge_spans(spans)


@given(texts)
@settings(max_examples=600, deadline=None)
def test_skipped_work_changes_nothing(text: str) -> None:
    assert PatternDetector().find(text) == reference_find(text)


def test_skipped_work_changes_nothing_on_hand_picked_cases() -> None:
    cases = [
        "pay DE89 3704 0044 0532 0130 00 x12 please",  # an extension after an IBAN
        "GB54 DOCG 3016 7160 9231 07 and NL91 ABNA 0417 1643 00.",  # IBAN continuations
        "card 4111 1111 1111 1111 ext. 5, ip 10.0.0.254x7",
        "SSN 078-05-1120, TFN 876 543 210, number 876543210, order 876543210",
        "tel0412 345 678, (0)20 7946 0958, 0049 30 12345678, 212.555.0199.",
        "card 4111 1111 1111 1111 0412 345 678 and SSN 078-05-1120 4111111111111111",
        "from 10.0.0.254 0412 345 678 call 49.99 0412 345 678",
    ]
    for text in cases:
        assert PatternDetector().find(text) == reference_find(text), text


@given(texts)
@settings(max_examples=300, deadline=None)
def test_prefilters_never_hide_a_match(text: str) -> None:
    for start, end in ScanText(text).number_runs:
        if start > 0 and text[start - 1] in "+(":
            start -= 1
        if patterns.find_phones(text, start, end):
            assert patterns._phone_possible(text, start, end)
        if patterns.find_national_ids(text, start, end):
            assert patterns._ID_SHAPE_RE.search(text, start, end) is not None


KNOWN = [
    ("+61 491 570 110", "phone", "phone_tk_pppppppppppp"),
    ("4111 1111 1111 1111", "card", "card_tk_cccccccccccc"),
    ("Harriet Quill", "name", "name_tk_nnnnnnnnnnnn"),
    ("8 Banksia Road, Hobart TAS 7000", "addr", "addr_tk_aaaaaaaaaaaa"),
    ("Ann.Lee@Example.com", "email", "email_tk_eeeeeeeeeeee"),
]


def test_a_shared_view_gives_the_same_spans() -> None:
    text = (
        "Harriet Quill (BAN\u212aSIA road) called 0491-570-110, card 4111-1111-1111-1111, "
        "mail ann.lee@example.COM; born 4/7/1962; \u20ac49.99"
    )
    known = KnownValueDetector(KNOWN)
    view = ScanText(text)
    assert PatternDetector().find(view) == PatternDetector().find(text)
    assert known.find(view) == known.find(text)
    kinds = {s.kind for s in known.find(view)}
    assert {"phone", "card", "name", "email"} <= kinds
    composite = CompositeDetector([PatternDetector(), known])
    assert composite.find(text) == merge_spans(PatternDetector().find(text) + known.find(text))


def test_many_known_numbers_take_the_index_path() -> None:
    values = [(f"+61 4{i:02d} {i * 7 % 1000:03d} {i * 13 % 1000:03d}", "phone",
               f"phone_tk_{i:012d}") for i in range(40)]
    known = KnownValueDetector(values)
    text = "call 0405 035 065 or +61 439 273 507 today"
    found = {(text[s.start : s.end], s.token) for s in known.find(text)}
    assert ("0405 035 065", "phone_tk_000000000005") in found
    assert ("+61 439 273 507", "phone_tk_000000000039") in found


def test_find_in_hands_plain_detectors_the_text() -> None:
    seen: list[object] = []

    class Plain:
        def find(self, text: str) -> list[Span]:
            seen.append(text)
            return []

    find_in(Plain(), ScanText("call 0412 345 678"))
    assert seen == ["call 0412 345 678"]
