"""`ScanText`: one text to be scanned, with the whole-text passes detectors share.

Detecting PII in a long text is dominated by a few passes over every character: finding
the runs of digits (for every number-shaped kind and for the customer's known numbers) and
lowering the text (for case-blind anchors such as birth words and known names). Each pass
is done at most once per text, lazily, and handed to every detector that asks, instead of
each detector repeating it. A `ScanText` lives only as long as one scan; it keeps nothing.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

# Runs of digits with the separators numbers are written with (space only between groups).
NUMBER_RUN_RE = re.compile(r"\d(?:[\d ().\-/]*\d)?")
# The same runs in `ScanText.digit_shape`, where every digit reads `0`: a pattern starting
# with a literal is searched for at C speed (memchr), one starting with a class is not.
_NUMBER_RUN_SHAPE_RE = re.compile(rb"0(?:[0 ().\-/]*0)?")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Beyond this many non-ASCII characters, checking each for a digit costs more than it saves.
_NON_ASCII_CHECK_LIMIT = 20_000
# The characters that may join two such runs into one "loose" run (any whitespace too).
_LOOSE_GAP_RE = re.compile(r"[\s().\-/]+")


class ScanText:
    """A text plus the shared passes over it (computed on first use, then reused)."""

    __slots__ = ("_folded", "_folded_done", "_loose_runs", "_lowered", "_lowered_done", "_runs",
                 "_shape", "_shape_done", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._runs: list[tuple[int, int]] | None = None
        self._loose_runs: list[tuple[int, int]] | None = None
        self._lowered: str | None = None
        self._lowered_done = False
        self._folded: bytes | None = None
        self._folded_done = False
        self._shape: bytes | None = None
        self._shape_done = False

    @property
    def digit_shape(self) -> bytes | None:
        """`folded` with every digit turned into ``0`` (offsets kept), or None when some
        character outside ASCII is a digit (`\\d` would see it, ``0`` would not) or when
        `folded` is None. ``digit_shape.count(b"0", i, j)`` counts the digits in a slice."""
        if not self._shape_done:
            folded = self.folded
            if folded is not None and self._only_ascii_digits(folded):
                self._shape = folded.translate(_DIGITS_TO_ZERO)
            self._shape_done = True
        return self._shape

    @property
    def number_runs(self) -> list[tuple[int, int]]:
        """(start, end) of every match of `NUMBER_RUN_RE`, in order."""
        if self._runs is None:
            shape = self.digit_shape
            if shape is not None:
                # Same matches, found faster in one byte per character.
                self._runs = list(map(re.Match.span, _NUMBER_RUN_SHAPE_RE.finditer(shape)))
            else:
                self._runs = [m.span() for m in NUMBER_RUN_RE.finditer(self.text)]
        return self._runs

    def _only_ascii_digits(self, folded: bytes) -> bool:
        """Whether no character outside ASCII is a digit (`\\d` also matches, say,
        Arabic-Indic or fullwidth digits, which `folded` turns into ``?``)."""
        if folded.count(b"?") > _NON_ASCII_CHECK_LIMIT:
            return False
        text = self.text
        at = folded.find(b"?")
        while at != -1:
            char = text[at]
            if char != "?" and char.isdecimal():  # isdecimal is exactly what `\d` matches
                return False
            at = folded.find(b"?", at + 1)
        return True

    @property
    def loose_number_runs(self) -> list[tuple[int, int]]:
        """The matches of ``[+(]?\\d(?:[\\d\\s().\\-/]*\\d)?``, derived from `number_runs`.

        A loose run also crosses newlines and tabs, and takes a `+` or `(` right before its
        first digit. Adjacent strict runs whose gap holds only whitespace and `().-/` are one
        loose run (a strict run is maximal, so such a gap always holds a non-space).
        """
        if self._loose_runs is None:
            text = self.text
            gap = _LOOSE_GAP_RE
            loose: list[tuple[int, int]] = []
            start = end = -1
            for run_start, run_end in self.number_runs:
                if end >= 0 and gap.fullmatch(text, end, run_start) is not None:
                    end = run_end
                    continue
                if end >= 0:
                    loose.append((start, end))
                start, end = run_start, run_end
                if start > 0 and text[start - 1] in "+(":
                    start -= 1  # never inside the previous run: that one ends on a digit
            if end >= 0:
                loose.append((start, end))
            self._loose_runs = loose
        return self._loose_runs

    @property
    def lowered(self) -> str | None:
        """`text.lower()` when lowering keeps every offset (it can grow a string: "İ"),
        else None (callers then fall back to case-insensitive regexes)."""
        if not self._lowered_done:
            lowered = self.text.lower()
            self._lowered = lowered if len(lowered) == len(self.text) else None
            self._lowered_done = True
        return self._lowered


    @property
    def folded(self) -> bytes | None:
        """The text as ASCII bytes, lowercased, one byte per character (anything else is
        ``?``), or None exactly when `lowered` is None.

        For an ASCII needle without ``?``, ``folded.find(needle)`` finds exactly the offsets
        ``lowered.find`` would: the only non-ASCII character whose lowercase is ASCII is the
        Kelvin sign (it reads as ``k`` here too), and U+0130, the only one whose lowercase
        is longer, makes both None. It costs a fraction of `str.lower` on non-ASCII text.
        """
        if not self._folded_done:
            text = self.text
            if text.isascii():
                self._folded = text.encode("ascii").lower()
            elif "\u0130" not in text:
                if "\u212a" in text:
                    text = text.replace("\u212a", "k")
                self._folded = text.encode("ascii", "replace").lower()
            self._folded_done = True
        return self._folded


def foldable(needle: str) -> bool:
    """Whether `needle` may be looked for in `ScanText.folded` (ASCII, no ``?``)."""
    return needle.isascii() and "?" not in needle


def scan_text(text: str | ScanText) -> ScanText:
    """`text` as a `ScanText` (a `ScanText` is returned as it is, so passes are shared)."""
    return text if isinstance(text, ScanText) else ScanText(text)


class _Finds(Protocol):
    def find(self, text: Any) -> list[Any]: ...


def find_in(detector: _Finds, view: ScanText) -> list[Any]:
    """`detector.find` on the shared view when the detector takes one (it says so with
    `takes_scan_text = True`), else on the plain text (any other `Detector`)."""
    if getattr(detector, "takes_scan_text", False):
        return detector.find(view)
    return detector.find(view.text)
