"""What the membrane may remember between the requests of one hop, and why it is safe.

`TokenizedResults` keeps exit results already tokenized (see its docstring).
`RememberedResolver` wraps the vault for the check pipeline: a token that resolved in a
scope resolves to the same value for good, because vault rows are never changed or
deleted (a token is an HMAC of its scope, kind and value; its row is written once). So a
successful resolution is kept, keyed by (token, scope); a failure is never kept, and is
asked again (and refused again) every time. The remembered real values live only in this
process's memory, as they already do between `ResolveTokens` and `TokenizeResult`, and
die with the hop's membrane.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import orjson

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


#: Tokenized results kept per membrane, and the longest result text worth remembering.
MAX_RESULTS = 256
MAX_RESULT_TEXT = 4096

_PLAIN_LEAVES = (str, int, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is made only of exact JSON types (str-keyed dicts, lists, str, int,
    finite float, bool, None), so that its JSON text names it exactly: no tuple that would
    read as a list, no int key that would read as a string, no str or int subclass, no NaN
    or infinity (which orjson would write as null, the text of None)."""
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return True
    if kind is float:
        return value - value == 0.0
    if depth > 32:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        for item in value:
            if not _plain(item, depth + 1):
                return False
        return True
    return False


class TokenizedResults:
    """Exit results already tokenized, while the tokenizer would still answer the same.

    Tokenizing is a pure function of the value, the scope, the detector and the scope's
    known values (tokens are HMACs; minting only stores what the first run found). So an
    answer is kept under the value's exact JSON text and the *stamp* it was made under
    — (scope, how it was tokenized, the scope's `known_version` read after tokenizing,
    the detector) — and given back only while the stamp is the same: any value added to
    the scope, by this process or another, changes `known_version` and ends every answer
    made before. An answer is kept only if that version is the one its miss was asked
    under (`get`), i.e. nothing was added to the scope while it was made: a version read
    after tokenizing could count a value the tokenizer never saw. So a result that mints
    is kept from its second run on (rows are never deleted: nothing needs minting again).
    Only small results of exact JSON types are kept.

    Answers are handed out as they are, not copied: nothing after tokenizing changes a
    result (it is masked into a new value if anything must change, then only encoded).
    """

    def __init__(self, size: int = MAX_RESULTS, max_text: int = MAX_RESULT_TEXT) -> None:
        self.size = size
        self.max_text = max_text
        self._answers: dict[str, tuple[Hashable, Any]] = {}
        #: key -> the stamp its last miss was asked under (what `put` must see again).
        self._asked: dict[str, Hashable] = {}

    def key(self, value: Any) -> str | None:
        """The exact key of `value`, or None when it is not worth (or safe) remembering."""
        if not _plain(value):
            return None
        try:
            # Exact types only (above): orjson writes them as `compact` would.
            text = orjson.dumps(value).decode()
        except TypeError:  # an integer beyond 64 bits, a lone surrogate: not remembered
            return None
        return text if len(text) <= self.max_text else None

    def get(self, key: str, stamp: Hashable) -> Any:
        """The remembered answer for `key` made under `stamp`, else None (and `stamp` is
        noted as the one the answer about to be made for `key` starts from)."""
        found = self._answers.get(key)
        if found is None or found[0] != stamp:
            if len(self._asked) >= self.size:
                self._asked.clear()
            self._asked[key] = stamp
            return None
        return found[1]

    def put(self, key: str, stamp: Hashable, answer: Any) -> None:
        """Keep `answer` under `stamp`, the version read after it was made; unless `get`
        was last asked for `key` under another stamp. The stamp after tokenizing may count
        a value added while the tokenizer worked (another connection or thread committed
        as this one minted, say), which the answer may not hold: kept under that stamp it
        would be given out until the scope changed again. Kept only when the version did
        not move while it was made; else the next request tokenizes again."""
        if self._asked.pop(key, stamp) != stamp:
            self._answers.pop(key, None)
            return
        if len(self._answers) >= self.size:
            self._answers.clear()
        self._answers[key] = (stamp, answer)


class KnownVersions:
    """`vault.known_version(scope)`, asked again only when state.db may have changed.

    Every request's first checks look at the store's freshness (`TaskActive`: the store's
    `hop_gate`, one `PRAGMA data_version`), and the request carries what that look saw
    (`Exchange.state_stamp`, from `StatePort.changes_seen`). The vault's tables live in the
    same file: if no other connection or process committed since the previous request's
    look, and this process's vault inserted nothing (`Vault.inserted`), no scope gained a
    known value, so the fingerprint read then still holds. Any change of either asks the
    vault again. A request without a stamp, or a vault without an insert counter, always
    asks (fail safe: a stale version could let a remembered answer outlive a new value).
    """

    def __init__(self, vault: VaultPort) -> None:
        self.vault = vault
        self._key: tuple[int, int] | None = None
        self._versions: dict[str, Any] = {}

    def of(self, scope: str, stamp: int | None) -> Any:
        inserted = getattr(self.vault, "inserted", None)
        if stamp is None or not isinstance(inserted, int):
            return self.vault.known_version(scope)
        key = (stamp, inserted)
        if key != self._key:
            self._versions.clear()
            self._key = key
        version = self._versions.get(scope)
        if version is None:
            version = self._versions[scope] = self.vault.known_version(scope)
            if self._key != (stamp, getattr(self.vault, "inserted", None)):
                self._versions.clear()  # the vault inserted while being asked: not kept
        return version

