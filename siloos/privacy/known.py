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
from siloos.privacy.scantext import ScanText, foldable, scan_text
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
_NOT_LETTER_BEFORE = r"(?<![^\W\d_])"
_NOT_LETTER_AFTER = r"(?![^\W\d_])"
# A value this long is distinctive enough to match inside a longer word ("AOkonkwo-Baptiste"):
# leaking it costs more than over-masking the word around it.
_DISTINCTIVE = 6


def _bounded(body: str, value: str) -> str:
    """`body` with the boundaries its value needs: short values must stand alone as words;
    distinctive ones only must not continue a number (digits next to digits)."""
    if len(value) < _DISTINCTIVE:
        return rf"{_NOT_LETTER_BEFORE}(?<!\d){body}(?!\d){_NOT_LETTER_AFTER}"
    before = r"(?<!\d)" if value[:1].isdigit() else ""
    after = r"(?!\d)" if value[-1:].isdigit() else ""
    return rf"{before}{body}{after}"
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
    # An opening parenthesis before the area code belongs to the number ("(202) 555-…"):
    # left out, the pattern detector's wider span would win the merge without this token.
    prefix = r"(?:(?:\+|00)\d{1,3}[\s.\-]{0,2}(?:\(0\)[\s.\-]?)?|\(?0\)?[\s.\-]?)?\(?"
    # Letters may touch a phone ("tel0412…"); digits may not (it would be another number).
    return rf"(?<![\d+]){prefix}(?:{alternatives})(?!\d|[.,]\d)"


def _words_pattern(value: str) -> str | None:
    words = re.findall(r"[^\s,]+", value)
    if not words:
        return None
    return r"(?i:" + r",?\s+".join(re.escape(w) for w in words) + r")"


def _entry_patterns(value: str, kind: str) -> list[tuple[str, bool, str]]:
    """(regex, is the whole value, the text it matches) alternatives for one known value."""
    return [(p, whole, *rest) if rest else (p, whole, value.strip())
            for p, whole, *rest in _raw_patterns(value, kind)]


def _raw_patterns(value: str, kind: str) -> list[tuple]:
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
        return [(rf"(?<!\d){body}(?!\d|[.,]\d)", True)]
    if kind == "iban":
        compact = re.sub(r"\s+", "", text)
        body = r"\s?".join(re.escape(c) for c in compact)
        return [(rf"(?<![A-Za-z0-9])(?i:{body})(?!\d)", True)]
    if kind == "email":
        return [(rf"{_BOUND_BEFORE}(?i:{re.escape(text)})(?![\w@\-]|\.\w)", True)]
    if kind == "name":
        found = []
        whole = _words_pattern(text)
        if whole:
            found.append((_bounded(whole, text), True))
        parts = re.findall(r"[^\W\d_][\w'\-]*", text)
        if len(parts) > 1:
            for part in parts:
                if len(part) >= 3 and part.casefold() not in _COMMON_WORDS:
                    capitalized = part[:1].upper() + part[1:]
                    found.append((
                        _bounded(re.escape(capitalized), part),
                        False,
                        part,
                    ))
        return found
    if kind == "addr":
        found = []
        whole = _words_pattern(text)
        if whole:
            found.append((_bounded(whole, text), True))
        street = text.split(",", 1)[0].strip()
        if street != text and len(street) >= 8 and re.search(r"\d", street):
            street_pattern = _words_pattern(street)
            if street_pattern:
                found.append((_bounded(street_pattern, street), False, street))
        return found
    if len(text) < 4:
        return []  # too short to match without hitting ordinary numbers and words
    if len(text) >= _DISTINCTIVE:
        return [(_bounded(rf"(?i:{re.escape(text)})", text), True)]
    return [(rf"{_BOUND_BEFORE}(?i:{re.escape(text)}){_BOUND_AFTER}", True)]


_NON_DIGITS_RE = re.compile(r"\D+")
# Kinds matched with flexible spacing/punctuation; every other kind is matched exactly
# (case aside), so its whole value can be the anchor.
_RESPELLED_KINDS = frozenset({"name", "addr", "iban", "phone", "card", "ssn"})
_DIGIT_KINDS = frozenset({"phone", "card", "ssn"})
# Up to this many distinct digit keys are ruled out per run by one regex; beyond it, a
# run's six-digit windows are looked up in the key index instead.
_FILTERED_KEYS = 16
_SCANNED_KEYS = 4
_ANCHOR_WORD_RE = re.compile(r"[a-z0-9]{3,}")


class _Entry:
    """One alternative: its compiled regex, what it reports, and a lowercase anchor."""

    __slots__ = ("anchor", "digit_key", "folded_anchor", "kind", "regex", "token", "width")

    def __init__(self, pattern: str, kind: str, token: str | None, value: str) -> None:
        self.regex = re.compile(pattern)
        self.kind = kind
        self.token = token
        self.width = len(value) * 2 + 16  # any spelling of the value fits in this window
        words = _ANCHOR_WORD_RE.findall(value.lower())
        self.anchor = max(words, key=len) if words else None
        if kind == "iban":
            self.anchor = value[:4].lower()  # country + check digits, never split by spaces
        elif kind not in _RESPELLED_KINDS and len(value.lower()) == len(value):
            # matched case-insensitively but never re-spaced: the whole value is the anchor,
            # so common words ("gmail", "com") do not trigger a search
            self.anchor = value.lower()
        self.folded_anchor = (
            self.anchor.encode("ascii") if self.anchor and foldable(self.anchor) else None
        )
        # Every spelling of a digit value ends with the same digits, whatever the separators.
        self.digit_key = only_digits(value)[-6:]


class KnownValueDetector:
    """Exact matching of one customer's known values; spans carry the vault token.

    Digit-shaped values (phone, card, ssn) are looked for only inside runs of digits; the
    others only around a `str.find` hit of their longest word, so the cost per text stays
    one or two C-speed passes however many values the customer has.
    """

    takes_scan_text = True  # `find` accepts a shared `ScanText`

    def __init__(self, values: Iterable[tuple[str, str, str]]) -> None:
        self._digit_entries: list[_Entry] = []
        self._text_entries: list[_Entry] = []
        for value, kind, token in values:
            for pattern, whole, matched in _entry_patterns(value, kind):
                entry = _Entry(pattern, kind, token if whole else None, matched)
                if kind in _DIGIT_KINDS:
                    self._digit_entries.append(entry)
                else:
                    self._text_entries.append(entry)
        # Digit entries indexed by their last six digits: a run is checked only against the
        # values whose key occurs in it, however many values the scope holds.
        self._by_digit_key: dict[str, list[_Entry]] = {}
        for entry in self._digit_entries:
            self._by_digit_key.setdefault(entry.digit_key, []).append(entry)
        # With few keys, one regex (each key's digits, anything but digits between them)
        # rules out most runs in C before any run's digits are collected.
        self._key_filter: re.Pattern[str] | None = None
        if 0 < len(self._by_digit_key) <= _FILTERED_KEYS:
            self._key_filter = re.compile(
                "|".join(r"\D*".join(key) for key in self._by_digit_key)
            )
        # With very few keys, one C scan per key over the whole text (a key's digits with
        # only run separators between them, so inside one run) can rule out every run
        # before any run is even found; each scan starts with a literal, so it is fast.
        self._key_scans: list[re.Pattern[str]] = []
        if len(self._by_digit_key) <= _SCANNED_KEYS:
            self._key_scans = [
                re.compile(r"[\s().\-/]*+".join(key)) for key in self._by_digit_key
            ]
        # Longer values first, so a full name wins over one of its parts at the same start.
        self._text_entries.sort(key=lambda e: -e.width)
        # Entries by the needle their anchor is looked for with (bytes in the folded text,
        # str in the lowered one; None: no anchor, searched everywhere), in entry order.
        groups: dict[bytes | str, list[int]] = {}
        unanchored: list[int] = []
        for index, entry in enumerate(self._text_entries):
            needle = entry.folded_anchor or entry.anchor
            if needle is None:
                unanchored.append(index)
            else:
                groups.setdefault(needle, []).append(index)
        self._anchor_groups: list[tuple[bytes | str | None, list[int]]] = [
            *groups.items(), *((None, [index]) for index in unanchored)
        ]

    def _search(self, entry: _Entry, text: str, lo: int, hi: int, out: list[Span]) -> None:
        for candidate in entry.regex.finditer(text, max(0, lo), min(len(text), hi)):
            # Re-match without the window's end: a window must not cut a value short.
            match = entry.regex.match(text, candidate.start())
            if match is not None:
                out.append(Span(match.start(), match.end(), entry.kind, entry.token))

    def find(self, text: str | ScanText) -> list[Span]:
        """Spans of known values (deduplicated, by start); `text` may be a shared
        `ScanText`, whose digit runs and lowered copy are then computed only once."""
        view = scan_text(text)
        text = view.text
        spans: list[Span] = []
        if self._digit_entries and (
            not self._key_scans or any(scan.search(text) for scan in self._key_scans)
        ):
            self._find_digits(text, view.loose_number_runs, spans)
        if self._text_entries:
            self._find_text(view, spans)
        return _dedupe(spans)

    def _find_text(self, view: ScanText, spans: list[Span]) -> None:
        """Text entries, found around each hit of their anchor; entries sharing an anchor
        (a name and its first name, an address and its street) share one `find` pass."""
        text = view.text
        folded = view.folded  # None exactly when lowering would move offsets
        found: list[list[Span]] = [[] for _ in self._text_entries]
        for needle, members in self._anchor_groups:
            # The folded bytes when the anchor is plain ASCII, else the lowered text (both
            # are None exactly when lowering would move offsets).
            haystack: bytes | str | None = folded if isinstance(needle, bytes) else view.lowered
            if haystack is None or needle is None:
                for index in members:
                    self._search(self._text_entries[index], text, 0, len(text), found[index])
                continue
            last = dict.fromkeys(members, -1)
            hit = haystack.find(needle)  # type: ignore[arg-type]
            while hit != -1:
                for index in members:
                    entry = self._text_entries[index]
                    lo = max(hit - entry.width, last[index] - entry.width)
                    self._search(entry, text, lo, hit + entry.width, found[index])
                    last[index] = hit + entry.width
                hit = haystack.find(needle, hit + 1)  # type: ignore[arg-type]
        for entry_spans in found:  # in entry order, as `_dedupe` keeps the first of a tie
            spans.extend(entry_spans)

    def _find_digits(self, text: str, runs: list[tuple[int, int]], spans: list[Span]) -> None:
        by_key = self._by_digit_key
        key_filter = self._key_filter
        for start, end in runs:
            if end - start < 6:
                continue
            if key_filter is not None and key_filter.search(text, start, end) is None:
                continue  # no key's digits occur in this run, whatever the separators
            run_digits = _NON_DIGITS_RE.sub("", text[start:end])
            if key_filter is not None:
                keys = [key for key in by_key if key in run_digits]
            else:
                keys = sorted({run_digits[i : i + 6] for i in range(len(run_digits) - 5)})
            for key in keys:
                for entry in by_key.get(key, ()):
                    # a little slack either side for "+61 " or "(0)" prefixes
                    self._search(entry, text, start - 1, end, spans)


def _dedupe(spans: list[Span]) -> list[Span]:
    """Drop exact repeats (windows can overlap); keep the token-carrying one first."""
    seen: dict[tuple[int, int], Span] = {}
    for span in spans:
        key = (span.start, span.end)
        if key not in seen or (seen[key].token is None and span.token is not None):
            seen[key] = span
    return sorted(seen.values(), key=lambda s: s.start)
