"""`PatternDetector`: stdlib-`re` recognizers for personal data in free text.

Each recognizer finds cheap candidates with one compiled regex whose first character is a
plain class or literal (so `re` can skip ahead in C), then decides in Python with checksums
and shape rules. Recall matters more than precision (F2): a missed value leaks, an extra
token only hides a number. Known ambiguities, decided on purpose:

- a four-part dotted number that is a valid IPv4 address (``1.2.3.4``) is an IP unless it
  directly follows ``v``/``version``/``build``/``release`` (then it is a version);
- a bare 9-digit number passing the TFN checksum is an id unless a word like "order",
  "invoice", "ref" or "#" directly precedes it; a bare 10-digit number is a phone only if
  it starts with 0 or follows a phone word ("call", "mobile", ...);
- numbers shaped like amounts (``1 234 567``), dates (``2024-01-15``, ``15.01.2024``) or
  decimals are never phones; a date is a date of birth only next to a birth word.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import itemgetter
from typing import Any

from siloos.privacy.checksums import IBAN_LENGTHS, card_valid, iban_valid, ssn_valid, tfn_valid
from siloos.privacy.scantext import ScanText, scan_text
from siloos.privacy.spans import Span, merge_spans

_SEP = " .-"


def _glued_before(text: str, start: int) -> bool:
    """The character before `start` continues a word or a number (so no match starts here)."""
    if start == 0:
        return False
    prev = text[start - 1]
    if prev.isalnum() or prev in "_@+/":
        return True
    # "12.0412 345 678", "ORD-0412…": a separator glued to a preceding digit or letter.
    return prev in ".-,:" and start >= 2 and text[start - 2].isalnum()


def _glued_after(text: str, end: int) -> bool:
    """The character after `end` continues the token (a word, or `.5`/`,5`/`-5`)."""
    if end >= len(text):
        return False
    nxt = text[end]
    if nxt.isalnum() or nxt in "_@":
        return True
    return nxt in ".,-/:" and end + 1 < len(text) and text[end + 1].isdigit()


def _context_before(text: str, start: int, pattern: re.Pattern[str], width: int) -> bool:
    return pattern.search(text, max(0, start - width), start) is not None


# ---------------------------------------------------------------- email

_AT_RE = re.compile("@")
_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+-/=?^_`{|}~"
)
_DOMAIN_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)


def find_emails(text: str) -> list[Span]:
    """Addresses found around each `@`: local part scanned backwards, domain by regex."""
    spans = []
    for at in _AT_RE.finditer(text):
        i = at.start()
        start = i
        while start > 0 and i - start < 64 and (text[start - 1] in _LOCAL_CHARS):
            start -= 1
        while start < i and text[start] in ".'":
            start += 1  # a local part does not start with a dot or quote
        if start == i or text[i - 1] == ".":
            continue
        domain = _DOMAIN_RE.match(text, i + 1)
        if domain is None:
            continue
        spans.append(Span(start, domain.end(), "email"))
    return spans


# ---------------------------------------------------------------- phone

_PHONE_CANDIDATE_RE = re.compile(r"[+(\d][\d ().\-]{5,24}\d")
_PHONE_GROUP_RE = re.compile(r"\+?\(?(\d+)\)?")
_PHONE_SHAPE_RE = re.compile(
    r"""^(?:(?P<cc>\+[1-9]\d{0,2}|00[1-9]\d{0,2})[ .\-]?)?
        (?:\(0\)[ .\-]?)?
        (?:(?P<area>\(\d{1,5}\))[ .\-]?)?
        \d+(?:[ .\-]\d+)*$""",
    re.X,
)
_PHONE_WORDS = (
    "phone ph tel telephone mobile mob cell cellphone call text sms whatsapp fax number contact"
    " ring reach dial landline handy telefon nummer"
).split()
_PHONE_WORDS_RE = re.compile(r"(?i)\b(?:" + "|".join(_PHONE_WORDS) + r")\b")
_PHONE_WORD_SET = frozenset(word.encode("ascii") for word in _PHONE_WORDS)
_FOLDED_WORD_RE = re.compile(rb"[a-z0-9_]+")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")


def _phone_word_before(text: str, start: int, folded: bytes | None, width: int = 32) -> bool:
    """`_PHONE_WORDS_RE.search(text, start - width, start)`, answered from the folded text
    (`ScanText.folded` or its `digit_shape`: lowercase ASCII, offsets kept) when it can
    be: the window's whole words, looked up in a set. A ``?`` in the window (a character
    outside ASCII, which may be a letter or fold like one) sends it to the regex."""
    lo = max(0, start - width)
    if folded is None or folded.find(b"?", max(0, lo - 1), start) != -1:
        return _PHONE_WORDS_RE.search(text, lo, start) is not None
    words = _FOLDED_WORD_RE.findall(folded, lo, start)
    if words and 0 < lo < start and folded[lo - 1] in _WORD_BYTES and folded[lo] in _WORD_BYTES:
        words = words[1:]  # a word cut by the window's start is no whole word
    return not _PHONE_WORD_SET.isdisjoint(words)
_DATE_SHAPES = {(4, 2, 2), (2, 2, 4), (1, 2, 4), (2, 1, 4), (1, 1, 4), (2, 2, 2)}


_PHONE_SPLIT_RE = re.compile(r"[ .\-()+]+")


def _phone_ok(
    text: str, start: int, end: int, sizes: tuple[int, ...] | None = None, digits: str = "",
    folded: bytes | None = None,
) -> bool:
    """Whether `text[start:end]` is a phone number. `sizes` (the digit groups' lengths) and
    `digits` (its digits) may be given by a caller that already knows them; `folded` (the
    text's `ScanText.folded` or `digit_shape`) answers the phone-word test faster."""
    candidate = text[start:end]
    shape = _PHONE_SHAPE_RE.match(candidate)
    if shape is None:
        return False
    if not digits:
        digits = "".join(c for c in candidate if c.isdigit())
    count = len(digits)
    if digits.count(digits[0]) == count:
        return False  # 0000000000, 5555555: filler, not a number anyone has
    cc = shape.group("cc")
    if cc:
        if cc.lstrip("+")[:1] == "0" and not candidate.startswith("00"):
            return False  # country codes never start with 0
        cc_digits = len(cc) - (2 if cc.startswith("00") else 1)
        return 8 <= count - (0 if candidate.startswith("+") else 2) <= 15 and cc_digits <= 3
    if sizes is None:
        sizes = tuple(len(g) for g in _PHONE_SPLIT_RE.split(candidate) if g)
    groups = len(sizes)
    # The separators used are a subset of " .-" (the only ones a candidate can hold).
    if groups == 3 and sizes in _DATE_SHAPES and " " not in candidate:
        return False  # 2024-01-15, 15.01.2024
    if groups == 4 and all(s <= 3 for s in sizes) and "." in candidate and (
        " " not in candidate and "-" not in candidate
    ):
        return False  # an IPv4 address or a version, never a phone
    if shape.group("area"):
        return 8 <= count <= 12
    if digits[0] == "0":
        return 9 <= count <= 12 and not (groups == 1 and count == 9)
    if groups > 1 and sizes[0] <= 3 and all(s == 3 for s in sizes[1:]):
        return False  # 1 234 567 / 12.345.678: thousands, an amount
    if sizes in _NANP_SHAPES and digits[-10] in "23456789":
        return True  # North American 415-555-0100, 1-800-555-0199
    # Last, as it is the dearest check: a phone word shortly before the number.
    return 7 <= count <= 12 and _phone_word_before(text, start, folded)


_NANP_SHAPES = ((3, 3, 4), (1, 3, 3, 4))


# Every spelling `_phone_ok` accepts has this many digits (cc: 8-15 after "+" or "00"
# plus the "00"); a run of groups outside the range is not even looked at.
_PHONE_DIGITS = (7, 17)


# One phone candidate: its digit groups (brackets and "+" included where they belong),
# the digits of each, how many digits each has, and totals[k] = digits in groups[:k].
_PhoneCandidate = tuple[
    tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], tuple[int, ...], tuple[int, ...]
]


def _phone_candidates(text: str, pos: int, endpos: int) -> list[_PhoneCandidate]:
    """The candidates `find_phones` looks at in `text[pos:endpos]`, split into groups.

    Only which characters are digits matters here, so a run's digit shape (decoded) gives
    the same candidates, offsets counted from the run's start.
    """
    found = []
    for match in _PHONE_CANDIDATE_RE.finditer(text, pos, endpos):
        groups = []
        digit_spans = []
        for group in _PHONE_GROUP_RE.finditer(text, match.start(), match.end()):
            start, end = group.span()
            if text[start] == "(" and text[end - 1] != ")":
                start += 1  # "(0439 821 870)": the bracket encloses the number, not an area
            elif text[end - 1] == ")" and "(" not in group[0]:
                end -= 1
            groups.append((start, end))
            digit_spans.append(group.span(1))
        sizes = tuple(e - s for s, e in digit_spans)
        totals = tuple(accumulate(sizes[:12], initial=0))
        found.append((tuple(groups), tuple(digit_spans), sizes, totals))
    return found


def find_phones(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """Phone numbers in national and international spellings (allocated or not)."""
    spans: list[Span] = []
    for candidate in _phone_candidates(text, pos, len(text) if endpos is None else endpos):
        spans.extend(_best_subspans(text, 0, _phone_attempts(text, candidate)))
    return spans


_PHONE_PLANS: dict[bytes, tuple[_PhoneAttempts, ...]] = {}


def _planned_phones(text: str, base: int, key: bytes, shape: bytes | None = None) -> list[Span]:
    """`find_phones(text, base, base + len(key))` for a run whose digit shape is `key`:
    its candidates, groups and the sub-spans worth trying are found once per shape.
    `shape`, the whole text's digit shape, answers phone-word tests faster."""
    plan = _PHONE_PLANS.get(key)
    if plan is None:
        run = key.decode("ascii")
        plan = tuple(
            _phone_attempts(run, candidate) for candidate in _phone_candidates(run, 0, len(key))
        )
        if len(_PHONE_PLANS) < _RUN_PLAN_LIMIT:
            _PHONE_PLANS[key] = plan
    spans: list[Span] = []
    for attempts in plan:
        spans.extend(_best_subspans(text, base, attempts, shape))
    return spans


# "555-0100x23", "555 0100 ext. 23": an extension belongs to the number.
_EXTENSION_RE = re.compile(r"(?i)\s?(?:x|ext\.?|extension)\s?\d{1,6}(?![\w])")


def _fresh_start(text: str, previous: tuple[int, int], start: int) -> bool:
    """Whether a number may start at `start` although a digit group precedes it: only after
    a space, and only when it is unmistakably new (`+…`, `(…`) or the group before it is a
    decimal amount ("49.99 0412 345 678"); otherwise it is the tail of one longer number."""
    if text[start - 1] != " " or _glued_before(text, start):
        return False
    if text[start] in "+(" or text[start - 2] == " ":
        return True
    before = text[max(0, previous[0] - 1) : previous[1]]
    return "." in before or "," in before


# The sub-spans of one candidate worth asking `_phone_ok` about, in the order they are
# tried, as offsets: per group i that may start a number, (i, its start, the previous
# group's (start, end) or None for the first group, and per end group j, longest first:
# (j, end, whether j is the last group looked at, the groups' digit counts, their digits'
# spans)). Only the digit counts and which characters are digits, spaces or brackets
# decide which sub-spans are listed, so a run's digit shape gives the same list.
_PhoneTry = tuple[int, int, bool, tuple[int, ...], tuple[tuple[int, int], ...]]
_PhoneAttempts = tuple[tuple[int, int, tuple[int, int] | None, tuple[_PhoneTry, ...]], ...]


def _phone_attempts(source: str, candidate: _PhoneCandidate) -> _PhoneAttempts:
    """The sub-spans `_best_subspans` tries in `candidate` (offsets into `source`, the text
    or the digit shape it was found in): whole digit groups, `_PHONE_DIGITS` digits in all,
    and a space right after any group but the last (nothing else can end a number inside a
    candidate)."""
    groups, digit_spans, sizes, totals = candidate
    count = min(len(groups), 12)
    low, high = _PHONE_DIGITS
    attempts = []
    for i in range(count):
        tries = []
        for j in range(count, i, -1):
            if not low <= totals[j] - totals[i] <= high:
                continue
            end = groups[j - 1][1]
            if j != count and source[end] != " ":
                continue
            tries.append((j, end, j == count, sizes[i:j], digit_spans[i:j]))
        if tries:
            attempts.append((i, groups[i][0], groups[i - 1] if i else None, tuple(tries)))
    return tuple(attempts)


def _best_subspans(
    text: str, base: int, attempts: _PhoneAttempts, folded: bytes | None = None
) -> list[Span]:
    """Longest valid phone numbers made of whole digit groups, left to right (a candidate
    may hold a leading amount, a trailing count, or two numbers side by side).
    `attempts` (`_phone_attempts`) count from `base`; a group inside a number already
    found starts no other."""
    found: list[Span] = []
    resume = 0
    for i, start_at, previous, tries in attempts:
        if i < resume:
            continue
        start = base + start_at
        if previous is None:
            if _glued_before(text, start):
                continue
        elif not _fresh_start(text, (base + previous[0], base + previous[1]), start):
            continue
        for j, end_at, last, sizes, digit_spans in tries:
            end = base + end_at
            extension = None
            if last:  # the last group: an extension may follow, else nothing glued
                extension = _EXTENSION_RE.match(text, end)
                if extension is None and _glued_after(text, end):
                    continue
            digits = "".join([text[base + s : base + e] for s, e in digit_spans])
            if _phone_ok(text, start, end, sizes, digits, folded):
                found.append(Span(start, extension.end() if extension else end, "phone"))
                resume = j
                break
    return found


# ---------------------------------------------------------------- card

_CARD_CANDIDATE_RE = re.compile(r"\d[\d \-]{10,26}\d")
_DIGIT_RUN_RE = re.compile(r"\d+")


def _card_ok(text: str, start: int, end: int) -> bool:
    candidate = text[start:end]  # digits, spaces and dashes only (`_CARD_CANDIDATE_RE`)
    spaced, dashed = " " in candidate, "-" in candidate
    if (spaced and dashed) or "  " in candidate or "--" in candidate:
        return False  # one kind of separator, used singly
    digits = candidate.replace(" ", "").replace("-", "")
    if spaced or dashed:
        sizes = [len(g) for g in _DIGIT_RUN_RE.findall(candidate)]
        if sizes[0] != 4 or not all(3 <= s <= 6 for s in sizes[1:]):
            return False
    return card_valid(digits)


def find_cards(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """Payment card numbers: 13-19 digits, optional single spaces/dashes, Luhn-valid."""
    spans = []
    for match in _CARD_CANDIDATE_RE.finditer(text, pos, len(text) if endpos is None else endpos):
        base = match.start()
        runs = [(base + g.start(), base + g.end()) for g in _DIGIT_RUN_RE.finditer(match[0])]
        # totals[k] = digits in runs[:k]; a card has 12-19 (what `card_valid` accepts)
        totals = [0]
        for run_start, run_end in runs:
            totals.append(totals[-1] + run_end - run_start)
        for i in range(len(runs)):
            start = runs[i][0]
            if i == 0 and _glued_before(text, start):
                continue
            if i > 0 and text[start - 2].isdigit() and not (
                text[start - 1] == " " and runs[i][1] - start == 4
            ):
                continue  # inside a longer number, unless a card's 4-digit group starts here
            for j in range(len(runs), i, -1):
                if not 12 <= totals[j] - totals[i] <= 19:
                    continue
                end = runs[j - 1][1]
                if _glued_after(text, end) or (j < len(runs) and text[end] == "-"):
                    continue
                if _card_ok(text, start, end):
                    spans.append(Span(start, end, "card"))
                    break
            else:
                continue
            break
    return spans


# A card spelled in a digit shape (`ScanText.digit_shape`: every digit reads "0"). Where a
# card may start and end in a run, and whether its separators pass `_card_ok`, depends only
# on the shape; the Luhn check and the characters around the run do not.
_SHAPE_CARD_CANDIDATE_RE = re.compile(rb"0[0 \-]{10,26}0")
_SHAPE_DIGIT_RUN_RE = re.compile(rb"0+")
# Per candidate: (start offset, whether it is the candidate's first group (then the text
# before it is checked), [(end offset, whether it is the candidate's end (then the text
# after it is checked))]), in the order `find_cards` tries them.
_CardPlan = tuple[tuple[tuple[int, bool, tuple[tuple[int, bool], ...]], ...], ...]
_CARD_PLANS: dict[bytes, _CardPlan] = {}


def _card_shape_ok(candidate: bytes) -> bool:
    """The separator rules of `_card_ok`, on a digit shape."""
    spaced, dashed = b" " in candidate, b"-" in candidate
    if (spaced and dashed) or b"  " in candidate or b"--" in candidate:
        return False
    if spaced or dashed:
        sizes = [len(g) for g in _SHAPE_DIGIT_RUN_RE.findall(candidate)]
        if sizes[0] != 4 or not all(3 <= s <= 6 for s in sizes[1:]):
            return False
    return True


def _card_plan(key: bytes) -> _CardPlan:
    """`find_cards`' choices for a run of shape `key` that do not depend on its digits."""
    plan = []
    for match in _SHAPE_CARD_CANDIDATE_RE.finditer(key):
        runs = list(map(re.Match.span, _SHAPE_DIGIT_RUN_RE.finditer(key, *match.span())))
        totals = list(accumulate((e - s for s, e in runs), initial=0))
        options = []
        for i, (start, group_end) in enumerate(runs):
            if i > 0 and key[start - 2] == 0x30 and not (
                key[start - 1] == 0x20 and group_end - start == 4
            ):
                continue  # inside a longer number, unless a card's 4-digit group starts here
            ends = []
            for j in range(len(runs), i, -1):
                if not 12 <= totals[j] - totals[i] <= 19:
                    continue
                end = runs[j - 1][1]
                # Inside the candidate, a group ends at " " or "-"; "-" glues it to the next.
                if (j < len(runs) and key[end] == 0x2D) or not _card_shape_ok(key[start:end]):
                    continue
                ends.append((end, j == len(runs)))
            options.append((start, i == 0, tuple(ends)))
        plan.append(tuple(options))
    return tuple(plan)


def _planned_cards(text: str, base: int, plan: _CardPlan) -> list[Span]:
    """`find_cards(text, base, base + len(key))` for a run whose `_card_plan` is `plan`."""
    spans = []
    for options in plan:
        for start_at, first, ends in options:
            start = base + start_at
            if first and _glued_before(text, start):
                continue
            for end_at, last in ends:
                end = base + end_at
                if last and _glued_after(text, end):
                    continue
                if card_valid(text[start:end].replace(" ", "").replace("-", "")):
                    spans.append(Span(start, end, "card"))
                    break
            else:
                continue
            break
    return spans


# ---------------------------------------------------------------- IBAN

_IBAN_CANDIDATE_RE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}")


def find_ibans(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """IBANs with a valid mod-97 checksum, compact or in groups of four."""
    spans = []
    for match in _IBAN_CANDIDATE_RE.finditer(text, pos, len(text) if endpos is None else endpos):
        start = match.start()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            continue
        candidate = match[0]
        available = len(candidate) - candidate.count(" ")
        expected = IBAN_LENGTHS.get(candidate[:2])
        lengths = [expected] if expected else range(min(34, available), 14, -1)
        for length in lengths:
            if length is None or length > available:
                continue
            # The shortest prefix holding `length` non-space characters (spaces are single,
            # so jumping by the shortfall never passes it).
            cut = length
            while (short := length - (cut - candidate.count(" ", 0, cut))) > 0:
                cut += short
            end = start + cut
            if _glued_after(text, end) and not (end < len(text) and text[end] == " "):
                continue
            compact = candidate[:cut].replace(" ", "")
            if iban_valid(compact):
                spans.append(Span(start, end, "iban"))
                break
    return spans


# ---------------------------------------------------------------- IP

_IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_VERSION_WORDS_RE = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\bbuild|\brelease)\s*$")
_IPV6_SEED_RE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")


def find_ipv4(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """IPv4 addresses: valid octets, no leading zeros, not right after a version word."""
    spans = []
    for match in _IPV4_RE.finditer(text, pos, len(text) if endpos is None else endpos):
        start, end = match.span()
        if _glued_before(text, start) or _glued_after(text, end):
            continue
        if _VERSION_WORDS_RE.search(text, max(0, start - 10), start):
            continue
        if ipv4_valid(match[0]):
            spans.append(Span(start, end, "ip"))
    return spans


def ipv4_valid(candidate: str) -> bool:
    """What `ipaddress.IPv4Address` accepts, without its cost (an exception per refusal):
    four ASCII decimal octets up to 255, no leading zeros."""
    parts = candidate.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3:
            return False
        if (part[0] == "0" and len(part) > 1) or int(part) > 255:
            return False
    return True


def find_ipv6(text: str) -> list[Span]:
    """IPv6 addresses, grown from each `:hex:` seed and validated by `ipaddress`."""
    spans = []
    last_end = -1
    # A text names the same address again and again; `ipaddress` is dear, so each distinct
    # candidate is checked once per call (nothing is kept after it).
    checked: dict[str, bool] = {}
    for seed in _IPV6_SEED_RE.finditer(text):
        if seed.start() < last_end:
            continue
        start = seed.start()
        while start > 0 and text[start - 1] in _IPV6_CHARS:
            start -= 1
        end = seed.end()
        while end < len(text) and text[end] in _IPV6_CHARS:
            end += 1
        # Trailing sentence punctuation is not part of the address.
        while end > start and text[end - 1] in ".":
            end -= 1
        last_end = end
        candidate = text[start:end]
        if candidate.count(":") < 2 or not any(c.isalnum() for c in candidate):
            continue
        if (start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")) or (
            end < len(text) and (text[end].isalnum() or text[end] == "_")
        ):
            continue
        valid = checked.get(candidate)
        if valid is None:
            valid = checked[candidate] = _ipv6_valid(candidate)
        if valid:
            spans.append(Span(start, end, "ip"))
    return spans


def _ipv6_valid(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- SSN / TFN

_SSN_RE = re.compile(r"(\d{3})([- ])(\d{2})\2(\d{4})")
_NINE_RE = re.compile(r"\d{3} ?\d{3} ?\d{3}")
_ID_WORDS_RE = re.compile(r"(?i)\b(?:ssn|social security|tfn|tax file|tax id|taxpayer)\b")
_NOT_ID_WORDS_RE = re.compile(
    r"(?i)(?:\b(?:order|orders|invoice|ref|reference|tracking|ticket|case|account|acct|po"
    r"|no|nr|id)\b\.?|#)\s*:?\s*$"
)


def _not_id_word_before(text: str, start: int) -> bool:
    """`_NOT_ID_WORDS_RE.search(text, start - 24, start)`, asked only when it can match: its
    match ends in a word, a "." or a "#" followed by nothing but spaces and one colon, so
    when the window, stripped of those on the right, ends in anything else, it cannot."""
    lo = max(0, start - 24)
    tail = text[lo:start].rstrip().rstrip(":").rstrip()
    if not tail or not (tail[-1].isalpha() or tail[-1] in ".#"):
        return False
    return _NOT_ID_WORDS_RE.search(text, lo, start) is not None


# Where SSN- and TFN-shaped candidates lie in a text: the starts of `_SSN_RE` matches
# (always 11 long) and the spans of `_NINE_RE` matches with zero or two spaces.
_IdCandidates = tuple[tuple[int, ...], tuple[tuple[int, int], ...]]


def _id_candidates(text: str, pos: int, endpos: int) -> _IdCandidates:
    """The candidates `find_national_ids` checks. Only which characters are digits matters,
    so a run's digit shape (decoded) gives them too, offsets counted from the run's start."""
    ssns = tuple(m.start() for m in _SSN_RE.finditer(text, pos, endpos))
    nines = tuple(
        m.span() for m in _NINE_RE.finditer(text, pos, endpos) if m[0].count(" ") in (0, 2)
    )
    return ssns, nines


def find_national_ids(text: str, pos: int = 0, endpos: int | None = None) -> list[Span]:
    """US SSNs (ddd-dd-dddd, valid ranges) and 9-digit TFN-style ids (TFN checksum)."""
    candidates = _id_candidates(text, pos, len(text) if endpos is None else endpos)
    return _checked_ids(text, 0, candidates)


_ID_PLANS: dict[bytes, _IdCandidates] = {}


def _planned_ids(text: str, base: int, key: bytes) -> list[Span]:
    """`find_national_ids(text, base, base + len(key))` for a run of digit shape `key`."""
    plan = _ID_PLANS.get(key)
    if plan is None:
        plan = _id_candidates(key.decode("ascii"), 0, len(key))
        if len(_ID_PLANS) < _RUN_PLAN_LIMIT:
            _ID_PLANS[key] = plan
    return _checked_ids(text, base, plan)


def _checked_ids(text: str, base: int, candidates: _IdCandidates) -> list[Span]:
    """The candidates (offsets from `base`) that are ids: nothing glued to them, valid
    ranges or checksum, and for 9-digit numbers no order/invoice word right before."""
    spans = []
    ssns, nines = candidates
    for start in ssns:
        start += base
        end = start + 11
        if _glued_before(text, start) or _glued_after(text, end):
            continue
        if ssn_valid(text[start : start + 3], text[start + 4 : start + 6], text[start + 7 : end]):
            spans.append(Span(start, end, "ssn"))
    for start, end in nines:
        start += base
        end += base
        if _glued_before(text, start) or _glued_after(text, end):
            continue
        digits = text[start:end].replace(" ", "")
        id_context = _context_before(text, start, _ID_WORDS_RE, 32)
        if not id_context and _not_id_word_before(text, start):
            continue
        if tfn_valid(digits) or (
            id_context and ssn_valid(digits[:3], digits[3:5], digits[5:])
        ):
            spans.append(Span(start, end, "ssn"))
    return spans


# ---------------------------------------------------------------- date of birth

_MONTHS = (
    r"(?:jan(?:uary|uar)?|feb(?:ruary|ruar)?|m(?:ar(?:ch)?|ärz|aerz)|apr(?:il)?|ma[iy]"
    r"|jun[ei]?|jul[iy]?|aug(?:ust)?|sep(?:t(?:ember)?)?|o[ck]t(?:ober)?|nov(?:ember)?"
    r"|de[cz](?:ember)?)\.?"
)
_DATE_RE = re.compile(
    rf"""(?ix)
    (?<![\w./-])
    (?:
        (?P<y1>\d{{4}})[-/.](?P<m1>\d{{1,2}})[-/.](?P<d1>\d{{1,2}})
      | (?P<a2>\d{{1,2}})(?P<s2>[-/.])(?P<b2>\d{{1,2}})(?P=s2)(?P<y2>\d{{4}}|\d{{2}})
      | \d{{1,2}}(?:st|nd|rd|th|\.)?(?:\s+of)?[\s-]+{_MONTHS},?[\s-]+\d{{4}}
      | {_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}
    )
    (?![\w/]|[.-]\d)
    """
)
# The first letter is a plain class so `re` can skip ahead in C; the rest is case-blind.
_BIRTH_WORDS_RE = re.compile(
    r"[bBdDgG](?<!\w[bBdDgG])(?i:orn|irth|irthday|irthdate|ob|\.o\.b|-day|eboren|eburtsdatum"
    r"|eburtstag)(?!\w)"
)


def _date_plausible(match: re.Match[str]) -> bool:
    if match.group("y1"):
        return 1 <= int(match.group("m1")) <= 12 and 1 <= int(match.group("d1")) <= 31
    if match.group("a2"):
        a, b = int(match.group("a2")), int(match.group("b2"))
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)
    return True


# (needle, the anchors a hit must start, or None: the needle is the anchor). "eboren" and
# "eburts" share one pass over the text: each pass costs about as much as the next, and
# "eb" is rare enough that confirming its hits costs less than a second pass.
_BIRTH_ANCHORS: tuple[tuple[bytes, tuple[bytes, ...] | None], ...] = (
    (b"orn", None), (b"irth", None), (b"dob", None), (b"d.o.b", None),
    (b"eb", (b"eboren", b"eburts")), (b"-day", None),
)


_BIRTH_LEADS = frozenset(b"bdg")


def _birth_words(text: str, view: ScanText | None = None) -> list[re.Match[str]]:
    """Birth words, found fast: `find` of a few lowercase anchors in the text folded to
    lowercase ASCII (`ScanText.folded`, offsets kept), each confirmed by the regex."""
    folded = (view if view is not None else ScanText(text)).folded
    if folded is None:
        return list(_BIRTH_WORDS_RE.finditer(text))
    found: dict[int, re.Match[str]] = {}
    for anchor, whole in _BIRTH_ANCHORS:
        # Every anchor but "dob" and "d.o.b" is the suffix right after a birth word's
        # first letter (b, d or g, folded to b"bdg"). A hit without one ("morning") can
        # only lead to a word that its own anchor's hit also finds, so it is passed over
        # before the walk back and the regex.
        lead = None if anchor[0] == ord("d") else _BIRTH_LEADS
        hit = folded.find(anchor)
        while hit != -1:
            if (lead is not None and (hit == 0 or folded[hit - 1] not in lead)) or (
                whole is not None and not folded.startswith(whole, hit)
            ):
                hit = folded.find(anchor, hit + 1)
                continue
            word_start = hit
            # (lowering never changes whether a character is a letter)
            while word_start > 0 and hit - word_start < 8 and text[word_start - 1].isalpha():
                word_start -= 1
            word = _BIRTH_WORDS_RE.match(text, word_start)
            if word is not None and word_start not in found:
                found[word_start] = word
            hit = folded.find(anchor, hit + 1)
    return [found[k] for k in sorted(found)]


def find_dates_of_birth(text: str, view: ScanText | None = None) -> list[Span]:
    """Dates next to a birth word: the nearest date after it (within 48 chars), else the
    nearest before it (within 32). `view` shares the lowered text with other detectors.

    Every date `_DATE_RE` matches holds a digit (a day or a year), so a window without one
    (found in the digit shape, when the text has one) is not searched."""
    view = view if view is not None else ScanText(text)
    shape = view.digit_shape
    size = len(text)
    spans = []
    for word in _birth_words(text, view):
        word_start, word_end = word.span()
        after_end = min(size, word_end + 48)
        after = [
            m for m in _DATE_RE.finditer(text, word_end, after_end) if _date_plausible(m)
        ] if shape is None or shape.find(b"0", word_end, after_end) != -1 else []
        done = text.find("dob_tk_", word_end, word_end + 48)
        if done != -1 and (not after or done < after[0].start()):
            continue  # this word's date is already a token; other dates near it are not it
        if after:
            spans.append(Span(after[0].start(), after[0].end(), "dob"))
            continue
        before_start = max(0, word_start - 32)
        if shape is not None and shape.find(b"0", before_start, word_start) == -1:
            continue
        before = [
            m for m in _DATE_RE.finditer(text, before_start, word_start) if _date_plausible(m)
        ]
        if before:
            spans.append(Span(before[-1].start(), before[-1].end(), "dob"))
    return spans


# ---------------------------------------------------------------- the detector

# Every number-shaped kind is looked for only inside a run of digits and separators
# (`ScanText.number_runs`) long enough to hold it, so digit-poor prose costs one pass.
_MIN_RUN = 7  # the shortest number any recognizer accepts ("1.1.1.1", "555-0100")
_PLAIN_DATE_RE = re.compile(r"\d{4}([-/.])\d\d?\1\d\d?|\d\d?([-/.])\d\d?\2(?:\d{4}|\d\d)")
_MIN_DIGITS = {"phone": 7, "card": 12, "ip": 4, "ssn": 9}
NUMBER_KINDS: dict[str, Callable[..., list[Span]]] = {
    "phone": find_phones,
    "card": find_cards,
    "ip": find_ipv4,
    "ssn": find_national_ids,
}
TEXT_KINDS: dict[str, Callable[[str], list[Span]]] = {
    "email": find_emails,
    "ip": find_ipv6,
    "dob": find_dates_of_birth,
}
KINDS: tuple[str, ...] = ("email", "phone", "card", "iban", "ip", "ssn", "dob")


class PatternDetector:
    """Every pattern recognizer (or a chosen subset), merged: longest span wins."""

    takes_scan_text = True  # `find` accepts a shared `ScanText`

    def __init__(self, kinds: Iterable[str] | None = None) -> None:
        chosen = list(KINDS) if kinds is None else list(kinds)
        unknown = [k for k in chosen if k not in KINDS]
        if unknown or not chosen:
            raise ValueError(f"unknown or empty recognizer kinds: {unknown or chosen}")
        self.kinds = tuple(chosen)
        self._numbers = [(k, NUMBER_KINDS[k]) for k in chosen if k in NUMBER_KINDS]
        self._texts = [TEXT_KINDS[k] for k in chosen if k in TEXT_KINDS and k != "dob"]
        self._dob = "dob" in chosen
        self._iban = "iban" in chosen

    def find(self, text: str | ScanText) -> list[Span]:
        """Detected spans, merged; `text` may be a `ScanText` shared with other detectors."""
        view = scan_text(text)
        text = view.text
        spans: list[Span] = []
        for recognizer in self._texts:
            spans.extend(recognizer(text))
        if self._dob:
            spans.extend(find_dates_of_birth(text, view))
        if self._numbers or self._iban:
            self._find_numbers(text, view.number_runs, spans, view.digit_shape)
        return merge_spans(spans)

    def _find_numbers(
        self, text: str, runs: list[tuple[int, int]], spans: list[Span],
        shape: bytes | None = None,
    ) -> None:
        """Every number kind, looked for in each run of digits that could hold it.

        Work is skipped only where it cannot change the merged result: a run that an IBAN,
        a card or an IPv4 address covers whole (and that no phone extension follows) is not
        searched for the other kinds, since whatever they found would lie inside that span
        and merging keeps the covering span (longer, or of a kind that wins the tie).
        Which kinds a run may hold is decided from its shape alone (`_RunPlan`), once per
        distinct shape, when the text has a digit shape; else by the same tests on the text.
        The phone test is `_phone_possible`, split into its shape part (the plan) and its
        text part (leading zeros, phone words).
        """
        numbers = self._numbers
        want = {kind for kind, _ in numbers}
        want_card, want_ip = "card" in want, "ip" in want
        want_phone, want_ssn = "phone" in want, "ssn" in want
        size = len(text)
        extend = spans.extend
        # IBANs first, each run probed in order. An IBAN covering a run starts before it,
        # and every IBAN a later run's probe finds starts after this run's end: so having
        # them all at hand changes no run's checks (below: `covering`), only saves the
        # Python loop over the many short runs that only an IBAN probe looks at.
        found_ibans: list[Span] = []
        if self._iban:
            for start, end in [r for r in runs if r[0] >= 2 and text[r[0] - 2 : r[0]].isupper()]:
                if shape is None or _iban_possible(text, start, end, shape):
                    # "DE89…", "GB82WEST…": an IBAN's check digits follow its country code.
                    found_ibans.extend(find_ibans(text, start - 2, min(size, start + 48)))
            extend(found_ibans)
            found_ibans.sort(key=_START)
        if not numbers:
            return
        covering: list[Span] = []  # IBANs starting before the run that may still cover it
        upcoming = 0  # the first IBAN (by start) not in `covering` yet
        iban_count = len(found_ibans)
        plans = _RUN_PLANS
        for start, end in [r for r in runs if r[1] - r[0] >= _MIN_RUN]:
            marked = start > 0 and text[start - 1] in "+("  # "+61 …", "(02) …"
            if shape is not None:
                key = shape[start - 1 if marked else start : end]
                plan = plans.get(key)
                if plan is None:
                    plan = _run_plan(key, marked)
                    if len(plans) < _RUN_PLAN_LIMIT:
                        plans[key] = plan
            else:
                plan = _run_plan_of_text(text, start, end, marked)
            if plan is _PLAIN_DATE:
                continue  # a lone date is none of the number kinds (dob is found by words)
            while upcoming < iban_count and found_ibans[upcoming].start < start:
                covering.append(found_ibans[upcoming])
                upcoming += 1
            if covering:
                covering = [s for s in covering if s.end >= end]
                if covering and not _extended(text, end):
                    continue
            if marked:
                start -= 1  # the "+" or "(" belongs to the number
            digits, dotted, phone_mark, group_starts, id_shaped, group_leads = plan
            if want_card and digits >= _CARD_DIGITS:
                if shape is None:
                    cards = find_cards(text, start, end)
                else:
                    card_plan = _CARD_PLANS.get(key)
                    if card_plan is None:
                        card_plan = _card_plan(key)
                        if len(_CARD_PLANS) < _RUN_PLAN_LIMIT:
                            _CARD_PLANS[key] = card_plan
                    cards = _planned_cards(text, start, card_plan)
                if cards:
                    extend(cards)
                    if _covers(cards, start, end) and not _extended(text, end):
                        continue  # a card wins every tie, and nothing else reaches past it
            if want_ip and dotted:
                addresses = find_ipv4(text, start, end)
                if addresses:
                    extend(addresses)
                    if _covers(addresses, start, end) and not _extended(text, end):
                        continue  # dotted: no SSN/TFN spelling has the same extent
            if want_phone and digits >= _PHONE_MIN_DIGITS and (
                phone_mark
                or (
                    "0" in group_leads(text[start:end])
                    if group_leads is not None
                    else any(text[start + at] == "0" for at in group_starts)
                )
                or _phone_word_before(text, start, shape)
            ):
                if shape is None:
                    extend(find_phones(text, start, end))
                else:
                    extend(_planned_phones(text, start, key, shape))
            if want_ssn and id_shaped:
                if shape is None:
                    extend(find_national_ids(text, start, end))
                else:
                    extend(_planned_ids(text, start, key))


# What `_find_numbers` needs to know about a run before calling any recognizer, decided
# from its shape: (digits, whether an IPv4 address may be in it, whether it has a phone
# mark other than a leading 0, where its digit groups start, whether it has an id shape,
# and an `itemgetter` of those starts: `"0" in leads(run)` asks whether any group starts
# with 0 in one C call — one start gives one character, several a tuple; `in` works on
# both). A plain date is `_PLAIN_DATE` instead: none of the number kinds.
_RunPlan = tuple[int, bool, bool, tuple[int, ...], bool, Callable[[str], Any] | None]
_PLAIN_DATE: _RunPlan = (0, False, False, (), False, None)
_CARD_DIGITS, _IP_DIGITS = _MIN_DIGITS["card"], _MIN_DIGITS["ip"]
_PHONE_MIN_DIGITS, _SSN_DIGITS = _MIN_DIGITS["phone"], _MIN_DIGITS["ssn"]
# Plans by run shape (`ScanText.digit_shape` slice); texts repeat a few dozen shapes, and
# the table stops growing at this size (a plan is then computed each time).
_RUN_PLANS: dict[bytes, _RunPlan] = {}
_RUN_PLAN_LIMIT = 4096
# `_PHONE_MARK_RE` and `_ID_SHAPE_RE` in a digit shape (every digit reads "0", and no
# other character does). A run's slice has no digit on either side, as the text has none
# there (runs are maximal) except, before a "+" or "(", one no match can start at.
_SHAPE_PHONE_MARK_RE = re.compile(rb"[+(]|(?<!0)000[^0]+000[^0]+0000(?!0)")
_SHAPE_ID_RE = re.compile(rb"(?<!0)(?:0{9}|000 000 000|000(?P<sep>[- ])00(?P=sep)0000)(?!0)")
_SHAPE_PLAIN_DATE_RE = re.compile(
    rb"0000(?P<a>[-/.])00?(?P=a)00?|00?(?P<b>[-/.])00?(?P=b)(?:0000|00)"
)
_SHAPE_GROUP_START_RE = re.compile(rb"(?<!0)0")


def _run_plan(key: bytes, marked: bool) -> _RunPlan:
    """The plan of a run whose digit shape is `key` (led by its "+" or "(" if `marked`)."""
    run = key[1:] if marked else key
    if len(run) <= 10 and _SHAPE_PLAIN_DATE_RE.fullmatch(run):  # a plain date: 10 at most
        return _PLAIN_DATE
    digits = key.count(b"0")
    group_starts = tuple(m.start() for m in _SHAPE_GROUP_START_RE.finditer(key))
    return (
        digits,
        digits >= _IP_DIGITS and run.count(b".") >= 3,
        _SHAPE_PHONE_MARK_RE.search(key) is not None,
        group_starts,
        digits >= _SSN_DIGITS and _SHAPE_ID_RE.search(key) is not None,
        itemgetter(*group_starts),  # a run holds a digit, so never empty
    )


def _run_plan_of_text(text: str, start: int, end: int, marked: bool) -> _RunPlan:
    """`_run_plan` computed on the text itself (when it has no digit shape: some digit
    outside ASCII). Leading zeros are then tested here, so no group starts are listed."""
    chunk = text[start:end]
    if end - start <= 10 and _PLAIN_DATE_RE.fullmatch(chunk):
        return _PLAIN_DATE
    if marked:
        start -= 1
    digits = len(chunk) - sum(map(chunk.count, " ().-/"))
    return (
        digits,
        digits >= _IP_DIGITS and chunk.count(".") >= 3,
        _PHONE_MARK_RE.search(text, start, end) is not None,
        (),
        digits >= _SSN_DIGITS and _ID_SHAPE_RE.search(text, start, end) is not None,
        None,
    )


# Every id `find_national_ids` reports has one of these shapes, with no digit either side.
_ID_SHAPE_RE = re.compile(r"(?<!\d)(?:\d{9}|\d{3} \d{3} \d{3}|\d{3}([- ])\d{2}\1\d{4})(?!\d)")
# Inside a run: a "+" or "(", a number starting with 0, or the North American 3-3-4 shape.
_PHONE_MARK_RE = re.compile(r"[+(]|(?<!\d)0|(?<!\d)\d{3}\D+\d{3}\D+\d{4}(?!\d)")


def _phone_possible(text: str, start: int, end: int, folded: bytes | None = None) -> bool:
    """False only when no phone `find_phones` could report lies in the run `text[start:end]`.

    `_phone_ok` accepts a number only with a country code (`+`, `00`), an area code in
    brackets, a leading 0, the North American 3-3-4 shape, or a phone word in the 32
    characters before it — and any such word lies before the run's start, as a run holds
    no letters. Each test here is looser than the one it stands for.
    """
    return (
        _PHONE_MARK_RE.search(text, start, end) is not None
        or _phone_word_before(text, start, folded)
    )


_START = itemgetter(0)
_UPPER_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# The fewest characters an IBAN candidate (`_IBAN_CANDIDATE_RE`) spans.
_IBAN_SHORTEST = 15


def _iban_possible(text: str, start: int, end: int, shape: bytes) -> bool:
    """False only when `find_ibans(text, start - 2, start + 48)` finds nothing, for the
    number run `text[start:end]` (`shape` is the text's digit shape).

    A candidate starts with two letters A-Z and two digits. In that window it can start
    only at `start - 2` (this run's own country code) or at some p after the run (its
    characters are digits and separators, and the one before it leads into a digit); such
    a candidate ends by the window's end, so p + 15 <= start + 48, and p + 2 is a digit.
    """
    if text[start - 2] in _UPPER_ASCII and text[start - 1] in _UPPER_ASCII:
        return True
    last_digit = start + 48 - _IBAN_SHORTEST + 2
    return shape.find(b"0", end, last_digit + 1) != -1


def _covers(spans: list[Span], start: int, end: int) -> bool:
    return any(s.start <= start and s.end >= end for s in spans)


def _extended(text: str, end: int) -> bool:
    """A phone extension ("x23", "ext. 23") follows `end`: a phone may reach past it."""
    return _EXTENSION_RE.match(text, end) is not None
