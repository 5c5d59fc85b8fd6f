"""SILO5xx: personal data written into markdown (emails, phone numbers, card numbers).

Agent folders are versioned in git, packed and shown to the model, so real personal data
must never be typed into them: examples use tokens (`email_tk_9f2c81d0a7b4`) or values
reserved for documentation. Allowed, by decision (see docs/lint.md):

- emails at the RFC 2606/6761 reserved names: example.com/.net/.org (and subdomains),
  and any domain ending in .example, .test, .invalid or .localhost;
- phone numbers in ranges reserved for fiction: North American 555-0100..555-0199,
  UK Ofcom 07700 900000..900999, Australian ACMA 0491 570..579;
- card numbers that are processors' published test numbers (4242 4242 4242 4242, ...).

Everything else that looks like one is reported, including inside code spans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from siloos.agent.lint.base import Hit, LintContext, MarkdownUnit, Rule

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
_CARD = re.compile(r"(?<![\w.+-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(r"(?<![\w.+-])(?:\+|\(\+?)?\d[\d ().-]{5,22}\d(?![\w-])")

_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = (".example", ".test", ".invalid", ".localhost")

#: Published test card numbers (Stripe, Visa, Mastercard, Amex, Discover documentation).
TEST_CARDS = frozenset({
    "4242424242424242", "4111111111111111", "4000056655665556", "5555555555554444",
    "5105105105105100", "2223003122003222", "378282246310005", "371449635398431",
    "6011111111111117", "3056930009020004", "36227206271667",
})

_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{4}$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


@dataclass(frozen=True)
class Span:
    """One suspicious value on one line: where it starts and ends, and the text."""

    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def email_allowed(address: str) -> bool:
    domain = address.rsplit("@", 1)[-1].lower()
    return (any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)
            or domain.endswith(_RESERVED_TLDS))


def phone_allowed(digits: str) -> bool:
    """Whether `digits` (country code included when written) is a number reserved for fiction."""
    nanp = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if len(nanp) == 10 and nanp[3:8] == "55501":
        return True
    uk = "0" + digits[2:] if digits.startswith("44") else digits
    if uk.startswith("07700900") and len(uk) == 11:
        return True
    au = "0" + digits[2:] if digits.startswith("61") else digits
    return au.startswith("049157") and len(au) == 10


def emails(line: str) -> Iterator[Span]:
    for match in _EMAIL.finditer(line):
        if not email_allowed(match.group()):
            yield Span(match.start(), match.end(), match.group())


def cards(line: str) -> Iterator[Span]:
    for match in _CARD.finditer(line):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and digits not in TEST_CARDS:
            yield Span(match.start(), match.end(), match.group())


def _card_like(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def phones(line: str) -> Iterator[Span]:
    """Phone-number-looking runs: 9..15 digits (8 with a leading +), not a date or an IP.

    A bare run of digits counts only when it is 10 or 11 long (national spellings such as
    0412345678); a real order or account number of that length is personal data too.
    """
    taken = [(m.start(), m.end()) for m in _EMAIL.finditer(line)]
    for match in _PHONE.finditer(line):
        text = match.group().strip()
        if any(s < match.end() and match.start() < e for s, e in taken):
            continue
        if _DATE.match(text) or _IPV4.match(text) or _card_like(text):
            continue
        digits = re.sub(r"\D", "", text)
        plus = text.startswith(("+", "(+"))
        grouped = bool(re.search(r"[ ().-]", text))
        if not (9 - plus <= len(digits) <= 15):
            continue
        if not plus and not grouped and len(digits) not in (10, 11):
            continue
        if phone_allowed(digits):
            continue
        yield Span(match.start(), match.end(), text)


def _mask(text: str) -> str:
    # Findings end up in CI logs; never repeat the full value.
    keep = text[:3]
    return keep + "*" * max(len(text) - len(keep), 3)


class _PiiRule(Rule):
    """Reports each value `finder` spots on any line of a readable markdown file, masked."""

    unit = "markdown"
    #: What the value is, as the finding names it ("email address").
    kind: ClassVar[str]
    #: Spots the suspicious values on one line.
    finder: ClassVar[Callable[[str], Iterator[Span]]]

    def check(self, unit: MarkdownUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            return
        for number, line in enumerate(unit.text.splitlines(), start=1):
            for span in self.finder(line):
                yield Hit(unit.path, number, f"{self.kind} {_mask(span.text)} written into "
                                             "markdown; use a token or a reserved example value")


class EmailInMarkdown(_PiiRule):
    id = "SILO501"
    summary = "an email address is written into markdown (example.com and .test are allowed)"
    kind = "email address"
    finder = staticmethod(emails)


class PhoneInMarkdown(_PiiRule):
    id = "SILO502"
    summary = "a phone number is written into markdown (555-01xx and other fiction ranges allowed)"
    kind = "phone number"
    finder = staticmethod(phones)


class CardInMarkdown(_PiiRule):
    id = "SILO503"
    summary = "a payment card number (Luhn-valid) is written into markdown"
    kind = "card number"
    finder = staticmethod(cards)


RULES: tuple[Rule, ...] = (EmailInMarkdown(), PhoneInMarkdown(), CardInMarkdown())
