"""The plaintext guard: the last check before SiloOS writes anything down (design §7, §11).

Everything SiloOS stores — `.silo/state.db` through `siloos.store`, `.silo/logs/llm.jsonl`
through `siloos.llm.log` — is tokenized by its callers. This module is the second line of
defence behind them: a `PlaintextGuard` inspects each text about to be written and refuses
it when a pattern recognizer still finds personal data in it, so a code path that forgot to
tokenize fails closed instead of leaving a plaintext value on disk.

How a text is inspected:

- a text that is JSON (the store's JSON columns, every LLM log line) is decoded and each
  string in it (keys too) is scanned on its own, as the tokenizer saw it: JSON escapes
  such as ``\\n`` would otherwise glue an ``n`` to the value after them and hide it from
  the recognizers, which never start a match inside a word. Integers are scanned from 12
  digits on (a card number written as a number); shorter ones are counts and amounts;
- every well-formed token (`<type>_tk_<id>`) is replaced by a space first: tokens are what
  SiloOS is meant to store, and the digits inside their ids must never read as numbers;
- what is left goes through the detector (by default every `PatternDetector` recognizer);
  any span it reports is plaintext, and the text is refused.

Known values: the store writes without knowing which customer a text is about, so the
default guard checks patterns only. `PlaintextGuard.for_scope(scope)` (with a vault) also
matches that scope's known values (a name or an address no pattern recognizes) for callers
that do know the scope.

A refusal names where the value was found (the JSON path) and its kind, never the value.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from siloos.errors import SiloError
from siloos.privacy import tokens
from siloos.privacy.detect import CompositeDetector, Detector, KnownValueDetector
from siloos.privacy.patterns import PatternDetector

if TYPE_CHECKING:
    from siloos.privacy.vault import Vault

__all__ = ["GuardVerdict", "PlaintextFound", "PlaintextGuard", "StoreHook"]


@dataclass(frozen=True)
class GuardVerdict:
    """The guard's answer for one text: clean, or the kinds found and where (no values)."""

    ok: bool
    kinds: tuple[str, ...] = ()
    places: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.ok:
            return "no plaintext personal data"
        at = ", ".join(self.places[:3]) + (", ..." if len(self.places) > 3 else "")
        return f"plaintext personal data ({', '.join(self.kinds)}) at {at}"


class PlaintextFound(SiloError):
    """A text about to be stored holds plaintext personal data of `kinds` at `places`.

    The store reports a guard's complaint by its exception's type name only (it never
    quotes the guard's message, which in general might hold the value). So each kind gets
    its own subclass, named `Plaintext<Kind>` (see `found_error`), and the store's one-line
    refusal still says what was found: "... in audit.detail (PlaintextEmail)".
    """

    exit_code = 2

    def __init__(self, verdict: GuardVerdict) -> None:
        super().__init__(f"refusing to write {verdict.reason}")
        self.kinds = verdict.kinds
        self.places = verdict.places


#: Remembered guard answers: at most this many pieces, each at most this long.
_MEMO_SIZE = 4096
_MEMO_TEXT = 1024

_found_types: dict[str, type[PlaintextFound]] = {}
_found_lock = threading.Lock()


def found_error(verdict: GuardVerdict) -> PlaintextFound:
    """The `PlaintextFound` subclass for the verdict's first kind, instantiated."""
    kind = "".join(c for c in verdict.kinds[0] if c.isalnum()) or "Data"
    with _found_lock:
        cls = _found_types.get(kind)
        if cls is None:
            name = f"Plaintext{kind.capitalize()}"
            cls = type(name, (PlaintextFound,), {
                "__doc__": f"Plaintext personal data of kind {kind!r} was about to be stored.",
                "__module__": __name__,
            })
            _found_types[kind] = cls
    return cls(verdict)


class PlaintextGuard:
    """Refuses texts that still hold personal data once their tokens are set aside.

    `store_check` is the hook `StateStore.open(path, guard=...)` takes (raises to refuse);
    `log_check` is the hook `LLMLog(logs_dir, guard=...)` takes (returns a reason or None);
    `verify` is the policy answer both are built on.
    """

    def __init__(self, detector: Detector | None = None, *, vault: Vault | None = None) -> None:
        self.detector: Detector = detector if detector is not None else PatternDetector()
        self.vault = vault
        #: Remembered answers (see `_Memory`): what SiloOS writes repeats a lot (field
        #: names, ops, tool names, tokens, the same arguments call after call).
        self._memory = _Memory(tokens.token_pattern(), self.detector)

    @property
    def _memo(self) -> dict[str, tuple[str, ...]]:
        """piece → kinds found in it (the current `_Memory`'s)."""
        return self._memory.kinds

    @property
    def _clean(self) -> set[str]:
        """Whole texts found clean (the current `_Memory`'s)."""
        return self._memory.clean

    def _remembered(self) -> _Memory:
        """The answers remembered under the token pattern and detector as they are now: a
        registered token type changes what a piece reads as once its tokens are set aside
        (a space where a token was can bring a date next to "born"), so answers found
        under another pattern are dropped, never trusted. One object per pattern, so a
        thread still checking under the old one only ever adds to the old one."""
        memory = self._memory
        pattern = tokens.token_pattern()
        if memory.pattern is not pattern or memory.detector is not self.detector:
            memory = self._memory = _Memory(pattern, self.detector)
        return memory

    # -- the hooks -------------------------------------------------------------------------

    def store_check(self, text: str) -> None:
        """`siloos.store`'s guard protocol: return when clean, raise `PlaintextFound` if not."""
        verdict = self.verify(text)
        if not verdict.ok:
            raise found_error(verdict)

    def store_hook(self) -> StoreHook:
        """The hook `StateStore.open(path, guard=...)` takes, with a fast path for values
        the store is about to encode (see `StoreHook`)."""
        return StoreHook(self)

    def log_check(self, line: str) -> str | None:
        """`siloos.llm.log`'s guard protocol: None when clean, else the reason to refuse."""
        verdict = self.verify(line)
        return None if verdict.ok else verdict.reason

    # -- the policy ------------------------------------------------------------------------

    def verify(self, text: str) -> GuardVerdict:
        """Scan `text` (JSON is walked, anything else scanned whole); never raises on input."""
        if not isinstance(text, str):
            return GuardVerdict(False, ("unknown",), ("a value that is not text",))
        if type(text) is not str:
            # Its characters are what is written; a subclass's own hashing or comparing
            # must not decide whether a remembered answer is its answer.
            text = str.__str__(text)
        memory = self._remembered()
        clean = memory.clean
        if text in clean:
            return _CLEAN
        if self._all_clean(text, memory):
            if len(text) <= _MEMO_TEXT:
                if len(clean) >= _MEMO_SIZE:
                    clean.clear()
                clean.add(text)
            return _CLEAN
        # Something was found: walk again, this time keeping where (rare, so paths are
        # only worked out here).
        kinds: list[str] = []
        places: list[str] = []
        for place, piece in _pieces(text):
            for kind in self._kinds_in(piece, memory):
                if kind not in kinds:
                    kinds.append(kind)
                if place not in places:
                    places.append(place)
        if kinds:
            return GuardVerdict(False, tuple(kinds), tuple(places))
        return GuardVerdict(True)

    def value_clean(self, value: Any) -> bool:
        """Whether `value`, a plain JSON value (exact dict with str keys, list, str, int,
        float, bool, None), holds no personal data in any piece. False when anything is
        found, and also when the value is not plain (its JSON text must then decide)."""
        memory = self._remembered()
        kinds_in = self._kinds_in
        # Inline only for the guard's own `_kinds_in`: a subclass's is asked every time.
        remembered = memory.kinds if kinds_in is PlaintextGuard._kinds_in else {}
        try:
            for piece in _plain_value_pieces(value):
                # The remembered answer inline (every request checks a few values, piece
                # by piece, and nearly every piece has been seen before).
                found = remembered.get(piece)
                if found is None:
                    found = kinds_in(piece, memory)
                if found:
                    return False
        except _NotPlain:
            return False
        return True

    def _all_clean(self, text: str, memory: _Memory) -> bool:
        """Whether no piece of `text` holds anything (the common answer, found without
        working out a path for every piece)."""
        kinds_in = self._kinds_in
        return not any(kinds_in(piece, memory) for piece in _bare_pieces(text))

    @staticmethod
    def _kinds_in(piece: str, memory: _Memory) -> tuple[str, ...]:
        """The kinds found in `piece` (an exact str) under `memory`'s pattern and
        detector, remembered there."""
        remembered = memory.kinds
        found = remembered.get(piece)
        if found is not None:
            return found
        scanned = piece
        if "_tk_" in scanned:
            # A space, not nothing: the text on either side of a token never joins up.
            scanned = memory.pattern.sub(" ", scanned)
        found = tuple(span.kind for span in memory.detector.find(scanned))
        if len(piece) <= _MEMO_TEXT:
            if len(remembered) >= _MEMO_SIZE:
                remembered.clear()
            remembered[piece] = found
        return found

    def for_scope(self, scope: str) -> PlaintextGuard:
        """This guard plus exact matching of `scope`'s known vault values (any spelling).

        For writers that know which customer a text is about; the known values are read
        once, now. Needs the guard to have been given a vault.
        """
        if self.vault is None:
            raise SiloError("a plaintext guard needs a vault to check a scope's known values")
        known = self.vault.known_values(scope)
        if not known:
            return PlaintextGuard(self.detector, vault=self.vault)
        detector = CompositeDetector([self.detector, KnownValueDetector(known)])
        return PlaintextGuard(detector, vault=self.vault)


_CLEAN = GuardVerdict(True)


class _Memory:
    """A guard's remembered answers, good for one token pattern and one detector (a
    scope's known values are read once, in `for_scope`, so its detector never changes):
    `kinds` maps a piece to the kinds found in it, `clean` holds whole texts found clean.
    Each is bounded (`_MEMO_SIZE` entries of at most `_MEMO_TEXT` characters) and cleared
    whole when full."""

    __slots__ = ("clean", "detector", "kinds", "pattern")

    def __init__(self, pattern: re.Pattern[str], detector: Detector) -> None:
        self.pattern = pattern
        self.detector = detector
        self.kinds: dict[str, tuple[str, ...]] = {}
        self.clean: set[str] = set()


class StoreHook:
    """The store's guard: `hook(text)` refuses a text holding personal data (as
    `PlaintextGuard.store_check`); `hook.check_json(value, text)` does the same for a value
    about to be stored as `text`, its JSON encoding. A plain value is walked as it is,
    which finds exactly the pieces decoding `text` would, without decoding it; anything
    else, and every refusal (which names places), goes through the text."""

    def __init__(self, guard: PlaintextGuard) -> None:
        self.guard = guard
        # A guard whose `verify` or `store_check` is its own policy answers only through it.
        self._memory_answers = (type(guard).verify is PlaintextGuard.verify
                                and type(guard).store_check is PlaintextGuard.store_check)

    def __call__(self, text: str) -> None:
        # The common answer first: a text already found clean under the current token
        # pattern and detector (what `verify` would answer from the same memory).
        if (self._memory_answers and type(text) is str
                and text in self.guard._remembered().clean):
            return
        self.guard.store_check(text)

    def check_json(self, value: Any, text: str) -> None:
        if not self.guard.value_clean(value):
            self.guard.store_check(text)


class _NotPlain(Exception):
    """A value whose JSON text could read differently from the value itself."""


def _plain_value_pieces(value: Any) -> list[str]:
    """The pieces `_bare_walk(json.loads(json.dumps(value)))` yields, from `value` itself.
    Only exact JSON types are walked (a tuple, a subclass or a non-str key may encode as
    something else): `_NotPlain` otherwise. A list, not a generator: the values checked
    here are row-sized, and every request has a few."""
    pieces: list[str] = []
    stack = [value]
    limit = 10 ** (_SCANNED_INT_DIGITS - 1)
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            pieces.append(item)
        elif kind is dict:
            for key in item:
                if type(key) is not str:
                    raise _NotPlain
                pieces.append(key)
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if abs(item) >= limit:
                pieces.append(str(item))
        elif item is not None and kind is not bool and kind is not float:
            raise _NotPlain
    return pieces


def _bare_pieces(text: str) -> Iterator[str]:
    """The pieces `_pieces` yields, without their places."""
    if text.lstrip()[:1] in ('{', '[', '"'):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            yield from _bare_walk(value)
            return
    yield text


def _bare_walk(value: Any) -> Iterator[str]:
    """`_walk` without the paths: the same pieces, in no particular order."""
    stack = [value]
    limit = 10 ** (_SCANNED_INT_DIGITS - 1)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= limit:
            yield str(item)


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """(place, text to scan) for `text`: the strings (and long integers) of a JSON
    document with their paths, or the whole text when it does not decode as JSON."""
    if text.lstrip()[:1] in ('{', '[', '"'):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # not JSON after all, or nested too deeply
            pass
        else:
            yield from _walk(value)
            return
    yield ("text", text)


# A key shown in a place: what code writes as a field name. Any other key (which could be
# a value itself, say an address used as a key) is shown as "?" so no refusal quotes it.
_SHOWN_KEY_RE = re.compile(r"[a-z_][a-z0-9_]{0,31}")
# JSON numbers with fewer digits are counts, sizes, amounts, times and ids, which SiloOS
# stores all the time and the tokenizer (which only rewrites strings) leaves alone; from 12
# digits on, a number may be a payment card written without quotes, so it is scanned.
_SCANNED_INT_DIGITS = 12


def _walk(value: Any) -> Iterator[tuple[str, str]]:
    """Every string (dict keys too) of a decoded JSON value and every integer long enough
    to be a card number, in document order, each with its path. Each string is scanned on
    its own, as the tokenizer saw it when it rewrote the document's strings one by one.
    Iterative, so any depth `json.loads` accepts is walked."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield (path, item)
        elif isinstance(item, dict):
            children = []
            for k, v in item.items():
                place = f"{path}.{k}" if _SHOWN_KEY_RE.fullmatch(k) else f"{path}.?"
                yield (place, k)
                children.append((place, v))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", item[i]) for i in range(len(item) - 1, -1, -1))
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) >= 10 ** (_SCANNED_INT_DIGITS - 1):
                yield (path, str(item))
