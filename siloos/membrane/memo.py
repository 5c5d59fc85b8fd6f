"""What the membrane may remember between the requests of one hop, and why it is safe.

`RememberedResolver` wraps the vault for the check pipeline: a token that resolved in a
scope resolves to the same value for good, because vault rows are never changed or
deleted (a token is an HMAC of its scope, kind and value; its row is written once). So a
successful resolution is kept, keyed by (token, scope); a failure is never kept, and is
asked again (and refused again) every time. The remembered real values live only in this
process's memory, as they already do between `ResolveTokens` and `TokenizeResult`, and
die with the hop's membrane.
"""

from __future__ import annotations

from siloos.membrane.ports import VaultPort

#: Resolutions kept per membrane before the memory is simply emptied.
MAX_REMEMBERED = 1024


class RememberedResolver:
    """A `VaultPort` that asks the vault once per (token, scope) that resolves."""

    def __init__(self, vault: VaultPort, size: int = MAX_REMEMBERED) -> None:
        self.vault = vault
        self.size = size
        self._known: dict[tuple[str, str], str] = {}

    def resolve(self, token: str, scope: str) -> str:
        key = (token, scope)
        value = self._known.get(key)
        if value is None:
            value = self.vault.resolve(token, scope)  # raises when out of scope: not kept
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[key] = value
        return value
