"""What a free-text detector reports (`Span`) and how overlapping reports are merged.

Merging keeps the longest span of every overlapping group; among equally long spans the
one from the more trusted source wins (known vault values first, then the kinds whose
check is strongest: checksummed numbers before shapes).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple

# Lower number wins a tie between equally long overlapping spans.
KIND_PRIORITY: dict[str, int] = {
    "card": 1, "iban": 2, "email": 3, "ssn": 4, "ip": 5, "phone": 6, "dob": 7,
    "name": 8, "addr": 9,
}


class Span(NamedTuple):
    """`text[start:end]` is personal data of token type `kind`.

    `token` is set when the span is a value already in the vault (known-value match), so
    the tokenizer reuses that exact token whatever spelling the text used. A named tuple
    (immutable, hashable) rather than a frozen dataclass: a long text makes tens of
    thousands of spans, and a tuple is made three times faster.
    """

    start: int
    end: int
    kind: str
    token: str | None = None

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


_START = itemgetter(0)
_END = itemgetter(1)


def _rank(span: Span) -> tuple[int, int, int, int]:
    known = 0 if span.token is not None else 1
    return (-(span.end - span.start), known, KIND_PRIORITY.get(span.kind, 50), span.start)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, sorted by start.

    Overlapping spans form one cluster, replaced by a single span covering all of them (so
    no part of any detected value is left in clear), of the kind of the best-ranked member
    (longest; then known values; then `KIND_PRIORITY`). A vault token is kept only when
    that member covers the whole cluster.
    """
    # By start, longer first: two stable sorts with C key functions give the order (and
    # the tie order) of one sort by (start, -end), faster.
    ordered = sorted(
        sorted([s for s in spans if s.end > s.start], key=_END, reverse=True), key=_START
    )
    merged: list[Span] = []
    cluster: list[Span] = []
    cluster_end = -1
    for span in ordered:
        if span.start >= cluster_end:
            if cluster:
                merged.append(cluster[0] if len(cluster) == 1 else _collapse(cluster, cluster_end))
            cluster = [span]
            cluster_end = span.end
        else:
            cluster.append(span)
            if span.end > cluster_end:
                cluster_end = span.end
    if cluster:
        merged.append(_collapse(cluster, cluster_end))
    return merged


def _collapse(cluster: list[Span], end: int) -> Span:
    if len(cluster) == 1:
        return cluster[0]
    best = min(cluster, key=_rank)
    start = cluster[0].start
    if best.start == start and best.end == end:
        return best
    return Span(start, end, best.kind)
