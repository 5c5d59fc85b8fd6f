"""`TokenCache`: remembers, per vault and per scope, which token each value was given.

Minting a token costs an HMAC, an AES-GCM encryption and a database round trip; a long
text names the same few values over and over. Tokens are deterministic within a scope
(the token is an HMAC of scope, kind and normalized value, and vault rows are never
deleted), so once `Vault.tokenize` has returned a token for (value, kind) in a scope, that
same token is the right answer for every later request — caching it changes no result.

What keeps it safe:
- a cache wraps exactly one `Vault` instance (the `Tokenizer` makes one for its vault), so a
  vault opened with other keys or on another database never sees this one's tokens;
- entries are keyed by scope first, so a value can only ever get a token of its own scope;
- only tokens `Vault.tokenize` returned (and so stored) are cached; a failure caches nothing;
- bounded: at most `scopes` scopes and `per_scope` values each, the oldest first out. The
  values live in this process's memory only, as they already do in the vault's decrypted
  `known_values` cache; nothing is written anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from siloos.privacy.vault import Vault

DEFAULT_PER_SCOPE = 4096
DEFAULT_SCOPES = 64


class TokenCache:
    """`tokenize(value, kind, scope)` with the same result as `Vault.tokenize`, memoized.

    Reads take no lock (a dict lookup is atomic in CPython); minting and inserting do.
    When full, the oldest remembered value (or scope) is forgotten first.
    """

    def __init__(
        self, vault: Vault, *, per_scope: int = DEFAULT_PER_SCOPE, scopes: int = DEFAULT_SCOPES
    ) -> None:
        if per_scope < 1 or scopes < 1:
            raise ValueError("a token cache needs room for at least one scope and one value")
        self.vault = vault
        self.per_scope = per_scope
        self.scopes = scopes
        self._lock = threading.Lock()
        self._by_scope: dict[str, dict[tuple[str, str], str]] = {}

    def tokenize(self, value: str, kind: str, scope: str) -> str:
        """The token of `value` in `scope` (minted and stored by the vault on first use)."""
        return self.tokenize_many([(value, kind)], scope)[0]

    def lookup(self, value: str, kind: str, scope: str) -> str | None:
        """The remembered (so stored) token of `value` in `scope`, or None: never mints."""
        entries = self._by_scope.get(scope)
        return None if entries is None else entries.get((kind, value))

    def tokenize_many(self, items: Sequence[tuple[str, str]], scope: str) -> list[str]:
        """Tokens for (value, kind) pairs, in order; the values not remembered yet are
        minted by the vault in one batch (`Vault.tokenize_many`)."""
        entries = self._by_scope.get(scope) or {}
        # A text names the same values again and again: look each distinct one up once.
        distinct = dict.fromkeys(items)
        missing = []
        for value, kind in distinct:
            token = entries.get((kind, value))
            if token is None:
                missing.append((value, kind))
            distinct[(value, kind)] = token
        if missing:
            minted = self.vault.tokenize_many(missing, scope)  # raises on failure: not cached
            with self._lock:
                entries = self._by_scope.get(scope)
                if entries is None:
                    if len(self._by_scope) >= self.scopes:
                        del self._by_scope[next(iter(self._by_scope))]
                    entries = self._by_scope[scope] = {}
                for (value, kind), token in zip(missing, minted, strict=True):
                    if len(entries) >= self.per_scope:
                        del entries[next(iter(entries))]
                    entries[(kind, value)] = token
                    distinct[(value, kind)] = token
        return list(map(distinct.__getitem__, items))  # type: ignore[arg-type]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in list(self._by_scope.values()))

    def clear(self) -> None:
        """Forget every remembered value."""
        with self._lock:
            self._by_scope.clear()
