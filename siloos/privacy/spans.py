"""What a free-text detector reports (`Span`) and how overlapping reports are merged.

Merging keeps the longest span of every overlapping group; among equally long spans the
one from the more trusted source wins (known vault values first, then the kinds whose
check is strongest: checksummed numbers before shapes).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

# Lower number wins a tie between equally long overlapping spans.
KIND_PRIORITY: dict[str, int] = {
    "card": 1, "iban": 2, "email": 3, "ssn": 4, "ip": 5, "phone": 6, "dob": 7,
    "name": 8, "addr": 9,
}


@dataclass(frozen=True, slots=True)
class Span:
    """`text[start:end]` is personal data of token type `kind`.

    `token` is set when the span is a value already in the vault (known-value match), so
    the tokenizer reuses that exact token whatever spelling the text used.
    """

    start: int
    end: int
    kind: str
    token: str | None = None

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


def _rank(span: Span) -> tuple[int, int, int, int]:
    known = 0 if span.token is not None else 1
    return (-(span.end - span.start), known, KIND_PRIORITY.get(span.kind, 50), span.start)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, sorted by start: the longest of each overlapping group wins."""
    starts: list[int] = []
    chosen: list[Span] = []  # kept sorted by start; chosen spans never overlap each other
    for span in sorted((s for s in spans if s.end > s.start), key=_rank):
        at = bisect.bisect_left(starts, span.start)
        if at > 0 and chosen[at - 1].end > span.start:
            continue
        if at < len(chosen) and chosen[at].start < span.end:
            continue
        starts.insert(at, span.start)
        chosen.insert(at, span)
    return chosen
