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
from siloos.privacy.tokens import TOKEN_RE, find_near_misses, is_token, token_kind, token_types
from siloos.privacy.vault import TokenOutOfScope, Vault

_SCALARS = (str, int, float, bool)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


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
        spans = find_in(self.detector, view) + self._known_detector(scope).find(view)
        if "_tk_" in text:
            # Existing tokens win every overlap: a token is already safe and must stay intact.
            spans += [Span(m.start(), m.end(), "token") for m in TOKEN_RE.finditer(text)]
        return [s for s in merge_spans_preferring_tokens(spans) if s.kind != "token"]

    def tokenize_text(self, text: str, scope: str) -> str:
        """`text` with every detected value replaced by its token in `scope`."""
        if not isinstance(text, str):
            raise SiloError("only text can be scanned for personal data")
        if not text:
            return text
        result, padded = self._replace_once(text, scope)
        # Padding a glued token with a space can expose a value that was glued to it
        # ("Ann0412345678"): scan again until nothing changes (tokens are never re-tokenized).
        for _ in range(3):
            if not padded:
                break
            result, padded = self._replace_once(result, scope)
        return result

    def _replace_once(self, text: str, scope: str) -> tuple[str, bool]:
        spans = self.find_spans(text, scope)
        if not spans:
            return text, False
        padded = False
        out: list[str] = []
        cursor = 0
        size = len(text)
        tokenize = self._tokens.tokenize
        for span in spans:
            start, end = span.start, span.end
            out.append(text[cursor:start])
            token = span.token or tokenize(text[start:end], span.kind, scope)
            # A token glued to a word or number would not read as a token again: pad it.
            if start > 0 and _is_word_char(text[start - 1]):
                token = " " + token
                padded = True
            if end < size and _is_word_char(text[end]):
                token += " "
                padded = True
            out.append(token)
            cursor = end
        out.append(text[cursor:])
        return "".join(out), padded

    def tokenize_any(self, obj: Any, scope: str) -> Any:
        """Every string in a JSON-like value free-text scanned; dict keys untouched."""
        if isinstance(obj, str):
            return self.tokenize_text(obj, scope)
        if isinstance(obj, Mapping):
            return {key: self.tokenize_any(value, scope) for key, value in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.tokenize_any(item, scope) for item in obj]
        return obj

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
        their declared type; every other string is then free-text scanned."""
        unknown = sorted(set(pii.values()) - set(token_types()))
        if unknown:
            raise SiloError(f"unknown PII type(s) in schema: {', '.join(unknown)}")
        return self._record(obj, pii, scope)

    def _record(self, obj: Any, pii: Mapping[str, str], scope: str) -> Any:
        if isinstance(obj, Mapping):
            result = {}
            for key, value in obj.items():
                if key in pii and isinstance(value, Mapping):
                    # A nested object under a PII-named key is a record of its own.
                    result[key] = self._record(value, pii, scope)
                elif key in pii and isinstance(value, (list, tuple)):
                    result[key] = [
                        self._record(v, pii, scope)
                        if isinstance(v, (Mapping, list, tuple))
                        else self.tokenize_value(v, pii[key], scope)
                        for v in value
                    ]
                elif key in pii:
                    result[key] = self.tokenize_value(value, pii[key], scope)
                else:
                    result[key] = self._record(value, pii, scope)
            return result
        if isinstance(obj, (list, tuple)):
            return [self._record(item, pii, scope) for item in obj]
        if isinstance(obj, str):
            return self.tokenize_text(obj, scope)
        return obj

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

        return TOKEN_RE.sub(replace, text)

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
