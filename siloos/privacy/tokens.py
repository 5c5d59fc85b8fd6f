"""The token format of the tokenized world: `<type>_tk_<id>` (design §7).

Owns the registry of token types, the exact token pattern, finding tokens anywhere in a
JSON-like value, and spotting *near-misses* (strings shaped almost like a token:
wrong case, wrong separator, short id, unknown type) so the membrane can refuse them
instead of passing them through as plain text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

DEFAULT_TOKEN_TYPES: tuple[str, ...] = (
    "name", "email", "phone", "addr", "card", "iban", "ssn", "ip", "dob",
    "cust", "ord", "case", "task",
)
MIN_ID_LENGTH = 12
ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TYPE_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")

# A near-miss: some letters, a separator, "tk" in any case, a separator, an id-ish tail.
# Deliberately wider than TOKEN_RE: anything it matches that is not an exact token is refused.
_NEAR_MISS_RE = re.compile(
    r"(?i)(?<![0-9a-z])[a-z][a-z0-9]{0,15}[\s_.:\-]{0,2}tk[\s_.:\-]{1,2}[0-9a-z]{3,}"
)

_lock = threading.Lock()
_types: list[str] = list(DEFAULT_TOKEN_TYPES)


def _compile(types: Iterable[str]) -> re.Pattern[str]:
    alternation = "|".join(sorted(types, key=len, reverse=True))
    # Tokens are delimited by anything that is not [0-9A-Za-z_]: an id followed by more
    # word characters is not a token (it is a near-miss).
    return re.compile(
        rf"(?<![0-9A-Za-z_])(?:{alternation})_tk_[0-9a-z]{{{MIN_ID_LENGTH},}}(?![0-9A-Za-z_])"
    )


TOKEN_RE: re.Pattern[str] = _compile(_types)


def token_pattern() -> re.Pattern[str]:
    """The token pattern as it is now (it grows when a type is registered). Callers use
    this rather than importing `TOKEN_RE`, whose imported binding would go stale."""
    return TOKEN_RE


def token_types() -> tuple[str, ...]:
    """The registered token types, in registration order."""
    return tuple(_types)


def register_token_type(name: str) -> None:
    """Add a token type (lowercase letters/digits, starting with a letter, <= 16 chars).

    Registering an existing type is a no-op. `TOKEN_RE` is rebuilt in place.
    """
    global TOKEN_RE
    if not _TYPE_NAME_RE.match(name):
        raise ValueError(f"invalid token type {name!r}: use [a-z][a-z0-9]{{0,15}}")
    with _lock:
        if name in _types:
            return
        _types.append(name)
        TOKEN_RE = _compile(_types)


def make_token(kind: str, token_id: str) -> str:
    """Assemble a token, checking both halves."""
    if kind not in _types:
        raise ValueError(f"unknown token type {kind!r}")
    if len(token_id) < MIN_ID_LENGTH or any(c not in ID_ALPHABET for c in token_id):
        raise ValueError("token id must be >= 12 chars of [0-9a-z]")
    return f"{kind}_tk_{token_id}"


def is_token(value: object) -> bool:
    """True when `value` is exactly one well-formed token of a registered type."""
    return isinstance(value, str) and TOKEN_RE.fullmatch(value) is not None


def token_kind(token: str) -> str:
    """The type prefix of a well-formed token."""
    if not is_token(token):
        raise ValueError("not a token")
    return token.split("_tk_", 1)[0]


def _strings(obj: Any) -> list[str]:
    """Every string in a JSON-like value, dict keys included (iteratively: no recursion
    limit). A list, not a generator: the values walked here are request-sized, and the
    membrane walks one on every call."""
    found: list[str] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str):
                    found.append(key)
                if isinstance(value, str):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return found


def find_tokens(obj: Any) -> set[str]:
    """All well-formed tokens in a JSON-like value: whole strings and tokens inside text."""
    pattern = TOKEN_RE
    found: set[str] = set()
    for text in _strings(obj):
        if "_tk_" in text:
            found.update(pattern.findall(text))
    return found


def find_near_misses(obj: Any) -> set[str]:
    """Substrings shaped like a token that are not one (e.g. `EMAIL_TK_…`, `email-tk-…`,
    `email_tk_abc`, `emial_tk_…`). The membrane refuses a request carrying any of these."""
    pattern = TOKEN_RE
    misses: set[str] = set()
    for text in _strings(obj):
        lowered = text.lower()
        if "tk" not in lowered:
            continue
        if pattern.fullmatch(text) is not None:
            # A whole token holds no near-miss: its only separators are the two around
            # `tk`, so the only token-shaped run in it starts at 0 and is the token itself.
            continue
        for match in _NEAR_MISS_RE.finditer(text):
            candidate = match.group(0)
            # A real token may be followed by more text; it is only a miss if the exact
            # token pattern does not account for this occurrence.
            exact = pattern.match(text, match.start())
            if exact is not None and exact.end() >= match.end():
                continue
            misses.add(candidate)
    return misses


def looks_like_token(value: object) -> bool:
    """True when `value` contains something token-shaped that is not a well-formed token."""
    return bool(find_near_misses(value))
