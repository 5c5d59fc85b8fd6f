"""`KnownValueDetector`: finds the customer's own vault values in free text, in any spelling.

Given (value, kind, token) triples (what `Vault.known_values(scope)` returns), it builds one
regex that matches each value the way people re-spell it:

- phone: its digits with any separators between them, with or without the country code
  or trunk 0 (`+61 412 345 678` also matches `0412-345-678` and `(04) 1234 5678`);
- card, ssn: digits with any spaces/dashes/dots; iban: characters with optional spaces;
- email: case-insensitive;
- name: the full name (case-insensitive, any whitespace), and each part of three letters or
  more on its own when written capitalized (`Smith`, not `smith`), except common words;
- addr: the whole address (commas optional, any whitespace), and its street line;
- other kinds (ids, dates, ip): the exact text, case-insensitive, not inside a longer word
  or number.

A full-value match carries the vault token, so every spelling maps to the same token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from siloos.privacy.normalize import digits as only_digits
from siloos.privacy.spans import Span

# Capitalized English words that are also first names or surnames; matching them alone
# would tokenize ordinary sentence starts.
_COMMON_WORDS = frozenset(
    "the and may will can june april august mark bill grant rose hope joy faith rich young"
    " long new north south east west street road lane hill park".split()
)
_SKIP_KINDS = frozenset({"task"})
_BOUND_BEFORE = r"(?<![\w@.+\-])"
_BOUND_AFTER = r"(?![\w@\-]|[.,]\d)"
_DIGIT_SEP = r"[\s().\-/]{0,3}"
_LOOSE_SEP = r"[\s.\-]?"


def _digits_pattern(digits: str, separator: str = _DIGIT_SEP) -> str:
    return separator.join(re.escape(d) for d in digits)


def _phone_pattern(value: str) -> str | None:
    digits = only_digits(value)
    if len(digits) < 7:
        return None
    # The national significant number: what remains without "+cc" or the trunk "0".
    tails = {digits[-9:], digits[-10:]} if len(digits) >= 10 else {digits}
    if digits.startswith("0"):
        tails.add(digits[1:])
    alternatives = "|".join(
        _digits_pattern(tail) for tail in sorted(tails, key=len, reverse=True)
    )
    prefix = r"(?:(?:\+|00)\d{1,3}[\s.\-]{0,2}(?:\(0\)[\s.\-]?)?|\(?0\)?[\s.\-]?)?"
    return rf"(?<![\w+]){prefix}(?:{alternatives})(?![\w]|[.,]\d)"


def _words_pattern(value: str) -> str | None:
    words = re.findall(r"[^\s,]+", value)
    if not words:
        return None
    return r"(?i:" + r",?\s+".join(re.escape(w) for w in words) + r")"


def _entry_patterns(value: str, kind: str) -> list[tuple[str, bool]]:
    """(regex, is the whole value) alternatives for one known value."""
    text = value.strip()
    if not text or kind in _SKIP_KINDS:
        return []
    if kind == "phone":
        pattern = _phone_pattern(text)
        return [(pattern, True)] if pattern else []
    if kind in ("card", "ssn"):
        digits = only_digits(text)
        if len(digits) < 6:
            return []
        body = _digits_pattern(digits, _LOOSE_SEP)
        return [(rf"(?<![\w]){body}(?![\w]|[.,]\d)", True)]
    if kind == "iban":
        compact = re.sub(r"\s+", "", text)
        body = r"\s?".join(re.escape(c) for c in compact)
        return [(rf"(?<![\w])(?i:{body})(?![\w])", True)]
    if kind == "email":
        return [(rf"{_BOUND_BEFORE}(?i:{re.escape(text)})(?![\w@\-]|\.\w)", True)]
    if kind == "name":
        found = []
        whole = _words_pattern(text)
        if whole:
            found.append((rf"\b{whole}\b", True))
        parts = re.findall(r"[^\W\d_][\w'\-]*", text)
        if len(parts) > 1:
            for part in parts:
                if len(part) >= 3 and part.casefold() not in _COMMON_WORDS:
                    capitalized = part[:1].upper() + part[1:]
                    found.append((rf"\b{re.escape(capitalized)}\b", False))
        return found
    if kind == "addr":
        found = []
        whole = _words_pattern(text)
        if whole:
            found.append((rf"(?<![\w]){whole}(?![\w])", True))
        street = text.split(",", 1)[0].strip()
        if street != text and len(street) >= 8 and re.search(r"\d", street):
            street_pattern = _words_pattern(street)
            if street_pattern:
                found.append((rf"(?<![\w]){street_pattern}(?![\w])", False))
        return found
    if len(text) < 4:
        return []  # too short to match without hitting ordinary numbers and words
    return [(rf"{_BOUND_BEFORE}(?i:{re.escape(text)}){_BOUND_AFTER}", True)]


class KnownValueDetector:
    """Exact matching of one customer's known values; spans carry the vault token."""

    def __init__(self, values: Iterable[tuple[str, str, str]]) -> None:
        alternatives: list[tuple[int, str]] = []
        self._meta: list[tuple[str, str | None]] = []
        for value, kind, token in values:
            for pattern, whole in _entry_patterns(value, kind):
                index = len(self._meta)
                self._meta.append((kind, token if whole else None))
                alternatives.append((len(value) if whole else 0, f"(?P<k{index}>{pattern})"))
        # Longer values first so a full name wins over one of its parts at the same start.
        alternatives.sort(key=lambda item: -item[0])
        self._regex = (
            re.compile("|".join(p for _, p in alternatives)) if alternatives else None
        )

    def find(self, text: str) -> list[Span]:
        if self._regex is None:
            return []
        spans = []
        for match in self._regex.finditer(text):
            group = match.lastgroup
            if group is None:
                continue
            kind, token = self._meta[int(group[1:])]
            spans.append(Span(match.start(), match.end(), kind, token))
        return spans
