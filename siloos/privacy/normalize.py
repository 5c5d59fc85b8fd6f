"""How a value of each token type is normalized before it is keyed into the vault.

Two spellings of one value (`Ann@Example.com` / `ann@example.com `, `0412 345 678` /
`0412-345-678`) normalize alike and so get the same token within a scope. The normalized
form is only ever fed to an HMAC; it is never stored.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

_WS_RE = re.compile(r"\s+")


def _collapse(value: str) -> str:
    return _WS_RE.sub(" ", value).strip()


def digits(value: str) -> str:
    """Only the ASCII digits of `value` (Unicode digits are folded to ASCII first)."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join(c for c in folded if "0" <= c <= "9")


def normalize_phone(value: str) -> str:
    """Digits only, keeping one leading `+` (international prefix) if the value had one."""
    folded = unicodedata.normalize("NFKC", value).strip()
    prefix = "+" if folded.startswith("+") else ""
    return prefix + digits(folded)


def normalize_ip(value: str) -> str:
    """The canonical (compressed, lowercase) form of an IP address; text otherwise."""
    text = value.strip()
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).compressed
    except ValueError:
        return text.lower()


def normalize_text(value: str) -> str:
    """Whitespace collapsed, casefolded: names and addresses."""
    return _collapse(unicodedata.normalize("NFKC", value)).casefold()


def normalize(value: str, kind: str) -> str:
    """The lookup form of `value` for token type `kind`."""
    if kind == "email":
        return _collapse(value).lower()
    if kind == "phone":
        return normalize_phone(value)
    if kind in ("card", "ssn"):
        return digits(value)
    if kind == "iban":
        return re.sub(r"\s+", "", value).upper()
    if kind == "ip":
        return normalize_ip(value)
    if kind in ("name", "addr"):
        return normalize_text(value)
    # ids, dates and registered extra types: whitespace-collapsed, case kept (ids may be
    # case-sensitive in the system of record).
    return _collapse(value)
