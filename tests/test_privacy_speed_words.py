"""Shortcuts added for tokenizing speed give what the plain computation gives: phone words
looked up in the folded text, the digit shape's runs, and the two-sort span merge."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.privacy import patterns
from siloos.privacy.scantext import NUMBER_RUN_RE, ScanText
from siloos.privacy.spans import Span, _collapse, merge_spans

PIECES = ["call", "Call", "CALL", "tel", "phone", "telephone", "mobile", "ring", "x", "_",
          "2", "0", " ", ".", "-", "(", "+", "?", "é", "\u017fms", "K", "\u212a", "İ", "recall",
          "callme", "\n", "nummer", "é call", "Telefon"]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@given(texts, st.data())
@settings(max_examples=400, deadline=None)
def test_phone_word_lookup_is_the_regex(text: str, data: st.DataObject) -> None:
    view = ScanText(text)
    start = data.draw(st.integers(0, len(text)))
    width = data.draw(st.sampled_from([32, 3, 5, 8]))
    expected = patterns._PHONE_WORDS_RE.search(text, max(0, start - width), start) is not None
    for folded in (view.folded, view.digit_shape, None):
        assert patterns._phone_word_before(text, start, folded, width) is expected


def test_phone_word_cut_by_the_window_is_no_word() -> None:
    text = "telephone" + "x" * 28 + " 0412"
    start = text.index(" 0412")
    view = ScanText(text)
    assert patterns._PHONE_WORDS_RE.search(text, start - 32, start) is None
    assert not patterns._phone_word_before(text, start, view.folded)
    assert patterns._phone_word_before("call: 0412", 6, ScanText("call: 0412").folded)


@given(st.lists(st.sampled_from(["12", "3.4", " ", "a", "(", "-", "/", "\u0663", "x9"]),
                max_size=25).map("".join))
@settings(max_examples=300, deadline=None)
def test_digit_shape_runs_are_the_regex_runs(text: str) -> None:
    assert ScanText(text).number_runs == [m.span() for m in NUMBER_RUN_RE.finditer(text)]


def reference_merge(spans: list[Span]) -> list[Span]:
    """The merge as first written: one sort by (start, -end), clusters by overlap."""
    ordered = sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, -s.end))
    merged, cluster, cluster_end = [], [], -1
    for span in ordered:
        if cluster and span.start >= cluster_end:
            merged.append(_collapse(cluster, cluster_end))
            cluster = []
        cluster.append(span)
        cluster_end = max(cluster_end, span.end) if len(cluster) > 1 else span.end
    if cluster:
        merged.append(_collapse(cluster, cluster_end))
    return merged


spans = st.builds(
    lambda start, length, kind, token: Span(start, start + length, kind, token),
    st.integers(0, 40), st.integers(0, 12), st.sampled_from(["phone", "card", "email", "ssn"]),
    st.sampled_from([None, None, "phone_tk_aaaaaaaaaaaa"]),
)


@given(st.lists(spans, max_size=20))
@settings(max_examples=500, deadline=None)
def test_merge_is_the_single_sort_merge(items: list[Span]) -> None:
    assert merge_spans(items) == reference_merge(items)
