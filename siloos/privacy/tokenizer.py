"""`Tokenizer`: turns real values into vault tokens (and back, for exits that hydrate).

Owns the two ways PII is found (design §7): by schema (`tokenize_record`, fields an exit
declares as PII) and in free text (`tokenize_text`: pattern recognizers plus exact matching of
the values already in this scope's vault, in any spelling). Hydration (`resolve_tokens`)
refuses any token, or near-miss of one, that was not minted in the given scope.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from typing import Any

from siloos.errors import SiloError
from siloos.privacy.cache import TokenCache
from siloos.privacy.detect import Detector, KnownValueDetector, PatternDetector
from siloos.privacy.scantext import ScanText, find_in
from siloos.privacy.spans import Span, merge_spans
from siloos.privacy.tokens import (
    find_near_misses,
    is_token,
    token_kind,
    token_pattern,
    token_types,
)
from siloos.privacy.vault import TokenOutOfScope, Vault

_SCALARS = (str, int, float, bool)


class Tokenizer:
    """Tokenizes text and JSON-like values for one vault; resolves tokens back for exits."""

    def __init__(self, vault: Vault, detector: Detector | None = None) -> None:
        self.vault = vault
        self.detector: Detector = detector if detector is not None else PatternDetector()
        self._lock = threading.Lock()
        self._tokens = TokenCache(vault)  # value -> token per scope: mint each value once
        # scope -> (vault fingerprint, detector built from that scope's known values)
        self._known: dict[str, tuple[tuple[int, int], KnownValueDetector]] = {}

    # ------------------------------------------------------------ free text

    def _known_detector(self, scope: str) -> KnownValueDetector:
        version = self.vault.known_version(scope)
        with self._lock:
            cached = self._known.get(scope)
            if cached is not None and cached[0] == version:
                return cached[1]
        detector = KnownValueDetector(self.vault.known_values(scope))
        with self._lock:
            self._known[scope] = (version, detector)
        return detector

    def find_spans(self, text: str, scope: str) -> list[Span]:
        """The spans `tokenize_text` would replace (existing tokens are never re-tokenized)."""
        view = ScanText(text)  # digit runs and the lowered text, computed once for both
        found = find_in(self.detector, view)
        known = self._known_detector(scope).find(view)
        has_tokens = "_tk_" in text
        if not known and not has_tokens and isinstance(self.detector, PatternDetector):
            return found  # already merged (and so sorted, without overlaps): nothing to add
        spans = found + known
        if has_tokens:
            # Existing tokens win every overlap: a token is already safe and must stay intact.
            spans += [Span(m.start(), m.end(), "token") for m in token_pattern().finditer(text)]
        return [s for s in merge_spans_preferring_tokens(spans) if s.kind != "token"]

    def tokenize_text(self, text: str, scope: str, *, mint: bool = True) -> str:
        """`text` with every detected value replaced by its token in `scope`.

        `mint` says where the text comes from. True (the system of record: exit results,
        intake, the customer's own message): every new value is stored in the vault, so it
        can be hydrated and is matched in every spelling from then on. False (text a cell
        or a model produced: notes, summaries, replies, logs): values already in the vault
        get their stored token, and a new value gets the token it *would* have
        (`Vault.token_for`, deterministic) with nothing stored, so it reads the same
        everywhere in the scope but can never be resolved (fail closed: `TokenOutOfScope`)
        and never joins the scope's known values.
        """
        if not isinstance(text, str):
            raise SiloError("only text can be scanned for personal data")
        if not text:
            return text
        result, padded = self._replace_once(text, scope, mint)
        # Padding a glued token with a space can expose a value that was glued to it
        # ("Ann0412345678"): scan again until nothing changes (tokens are never re-tokenized).
        for _ in range(3):
            if not padded:
                break
            result, padded = self._replace_once(result, scope, mint)
        return result

    def _tokens_for(self, spans: list[Span], text: str, scope: str, mint: bool) -> list[str]:
        """The token of every span, in order: a known value's own, else minted in one
        batch (`mint`), else the unstored deterministic token."""
        # (Spans are unpacked as tuples: a named tuple's attributes cost a call each.)
        wanted = [(text[start:end], kind) for start, end, kind, token in spans if token is None]
        if not wanted:
            return [token for _, _, _, token in spans]
        if mint:
            tokens = self._tokens.tokenize_many(wanted, scope)
        else:
            lookup, token_for = self._tokens.lookup, self.vault.token_for
            seen: dict[tuple[str, str], str] = {}  # a text names the same values again
            for item in wanted:
                if item not in seen:
                    seen[item] = lookup(*item, scope) or token_for(*item, scope)
            tokens = [seen[item] for item in wanted]
        if len(tokens) == len(spans):
            return tokens  # no span carried a known value's token
        fresh = iter(tokens)
        return [token if token is not None else next(fresh) for _, _, _, token in spans]

    def _replace_once(self, text: str, scope: str, mint: bool = True) -> tuple[str, bool]:
        spans = self.find_spans(text, scope)
        if not spans:
            return text, False
        padded = False
        out: list[str] = []
        append = out.append
        cursor = 0
        size = len(text)
        tokens = self._tokens_for(spans, text, scope, mint)
        for (start, end, _, _), token in zip(spans, tokens, strict=True):
            append(text[cursor:start])
            # A token glued to a word or number would not read as a token again: pad it.
            if start > 0 and ((before := text[start - 1]).isalnum() or before == "_"):
                token = " " + token
                padded = True
            if end < size and ((after := text[end]).isalnum() or after == "_"):
                token += " "
                padded = True
            append(token)
            cursor = end
        append(text[cursor:])
        return "".join(out), padded

    def tokenize_any(self, obj: Any, scope: str, *, mint: bool = True) -> Any:
        """Every string in a JSON-like value free-text scanned, dict keys included; an
        integer that is one of the scope's known values (a phone as a number) becomes its
        token. `mint` as in `tokenize_text`. Keys that collapse to one key are all kept
        (`_put_key`)."""
        return self._any(obj, scope, mint, {})

    def _any(self, obj: Any, scope: str, mint: bool, keys: dict[Any, Any]) -> Any:
        if isinstance(obj, str):
            return self.tokenize_text(obj, scope, mint=mint)
        if isinstance(obj, Mapping):
            result: dict[Any, Any] = {}
            for key, value in obj.items():
                _put_key(result, self._key(key, scope, mint, keys),
                         self._any(value, scope, mint, keys))
            return result
        if isinstance(obj, (list, tuple)):
            return [self._any(item, scope, mint, keys) for item in obj]
        return self._known_int(obj, scope)

    def _key(self, key: Any, scope: str, mint: bool, memo: dict[Any, Any]) -> Any:
        """A dict key, scanned like any value (remembered per call: keys repeat)."""
        slot = (type(key), key)  # 1 and True are one dict key, but not one value
        done = memo.get(slot)
        if done is None:
            if isinstance(key, str):
                done = self.tokenize_text(key, scope, mint=mint) if key else key
            else:
                done = self._known_int(key, scope)
            memo[slot] = done
        return done

    def _known_int(self, value: Any, scope: str) -> Any:
        """`value`, or the token of the known value it spells (a phone, card or id written
        as a JSON number). Only integers: bools are flags and floats are amounts."""
        if type(value) is not int or -1000 < value < 1000:
            return value  # shorter than any value the known-value detector matches
        known = self._known_detector(scope)
        digits = str(value)
        # A phone with its country code loses its "+" as a number: try it with one too.
        for text in (digits, "+" + digits) if value > 0 else (digits,):
            for span in known.find(text):
                if span.token is not None and span.start == 0 and span.end == len(text):
                    return span.token
        return value

    # ------------------------------------------------------------ by schema

    def tokenize_value(self, value: Any, kind: str, scope: str) -> Any:
        """One schema-declared PII value: str()-ed and tokenized; None stays None; a token
        stays itself; containers have every scalar leaf tokenized with the same kind."""
        if kind not in token_types():
            raise SiloError(f"unknown PII type {kind!r}")
        if value is None or is_token(value):
            return value
        if isinstance(value, Mapping):
            return {k: self.tokenize_value(v, kind, scope) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.tokenize_value(v, kind, scope) for v in value]
        text = str(value).strip() if isinstance(value, _SCALARS) else None
        if not text:
            # Empty or not a scalar: nothing a token could stand for; keep no trace of it.
            return None if text is None else value
        return self.vault.tokenize(text, kind, scope)

    def tokenize_record(self, obj: Any, pii: Mapping[str, str], scope: str) -> Any:
        """Fields named in `pii` (in dicts at any depth, lists of dicts too) become tokens of
        their declared type; every other string, dict keys included, is then free-text
        scanned, and integers are checked against the known values (as in `tokenize_any`)."""
        unknown = sorted(set(pii.values()) - set(token_types()))
        if unknown:
            raise SiloError(f"unknown PII type(s) in schema: {', '.join(unknown)}")
        return self._record(obj, pii, scope, {})

    def _record(self, obj: Any, pii: Mapping[str, str], scope: str, keys: dict) -> Any:
        if isinstance(obj, Mapping):
            result: dict[Any, Any] = {}
            for key, value in obj.items():
                if key in pii and isinstance(value, Mapping):
                    # A nested object under a PII-named key is a record of its own.
                    done = self._record(value, pii, scope, keys)
                elif key in pii and isinstance(value, (list, tuple)):
                    done = [
                        self._record(v, pii, scope, keys)
                        if isinstance(v, (Mapping, list, tuple))
                        else self.tokenize_value(v, pii[key], scope)
                        for v in value
                    ]
                elif key in pii:
                    done = self.tokenize_value(value, pii[key], scope)
                else:
                    done = self._record(value, pii, scope, keys)
                # The schema names fields by their real key; the key itself is then scanned
                # like any text (an exit may index rows by a customer's email).
                _put_key(result, self._key(key, scope, True, keys), done)
            return result
        if isinstance(obj, (list, tuple)):
            return [self._record(item, pii, scope, keys) for item in obj]
        if isinstance(obj, str):
            return self.tokenize_text(obj, scope)
        return self._known_int(obj, scope)

    def load_known(self, record: Mapping[str, Any], pii: Mapping[str, str], scope: str) -> dict:
        """Put a customer record's PII fields into the vault (at intake, before any message
        is scanned) so known-value matching works from the first message. Returns
        field -> token for the fields loaded."""
        loaded: dict[str, Any] = {}
        for field, kind in pii.items():
            if field in record and record[field] is not None:
                token = self.tokenize_value(record[field], kind, scope)
                if token is not None:
                    loaded[field] = token
        return loaded

    # ------------------------------------------------------------ hydration

    def _resolve_text(self, text: str, scope: str, only: set[str] | None) -> str:
        if find_near_misses(text):
            raise TokenOutOfScope()
        if "_tk_" not in text:
            return text

        def replace(match: Any) -> str:
            token = match.group(0)
            if only is not None and token_kind(token) not in only:
                if not self.vault.in_scope(token, scope):
                    raise TokenOutOfScope()
                return token
            return self.vault.resolve(token, scope)

        return token_pattern().sub(replace, text)

    def resolve_tokens(self, obj: Any, scope: str, *, only: set[str] | None = None) -> Any:
        """Real values for the tokens in a JSON-like value (whole strings and inside text).

        `only` limits which token types are hydrated; tokens of other types stay tokens but
        must still belong to `scope`. Any token outside the scope, or a near-miss of one,
        raises `TokenOutOfScope`; dict keys are left as they are.
        """
        if isinstance(obj, str):
            return self._resolve_text(obj, scope, only)
        if isinstance(obj, Mapping):
            return {key: self.resolve_tokens(value, scope, only=only) for key, value in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.resolve_tokens(item, scope, only=only) for item in obj]
        return obj


def _put_key(result: dict[Any, Any], key: Any, value: Any) -> None:
    """`result[key] = value`, never over an entry already there.

    Two real keys can become one tokenized key (the same address spelled in two cases).
    Dropping either entry would lose data silently, and merging them into a list would
    change the value's shape; so the first keeps the key and each later one gets the key
    with `#2`, `#3`, ... appended, in the order the entries came (deterministic). A token
    followed by `#` still reads as that token.
    """
    if key not in result:
        result[key] = value
        return
    n = 2
    while f"{key}#{n}" in result:
        n += 1
    result[f"{key}#{n}"] = value


def merge_spans_preferring_tokens(spans: list[Span]) -> list[Span]:
    """Like `merge_spans`, except an existing token's span beats any overlapping detection."""
    tokens = [s for s in spans if s.kind == "token"]
    if not tokens:
        return merge_spans(spans)
    kept = merge_spans(tokens)
    starts = [t.start for t in kept]

    def hits_token(span: Span) -> bool:
        at = bisect.bisect_right(starts, span.start)
        return (at > 0 and kept[at - 1].end > span.start) or (
            at < len(kept) and kept[at].start < span.end
        )

    others = [s for s in spans if s.kind != "token" and not hits_token(s)]
    return merge_spans(kept + others)
