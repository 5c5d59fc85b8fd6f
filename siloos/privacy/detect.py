"""Free-text PII detection: the `Detector` protocol and the detectors SiloOS ships.

- `PatternDetector` (patterns.py): stdlib regex recognizers with checksums, always on;
- `KnownValueDetector` (known.py): the customer's own vault values, in any spelling;
- `CompositeDetector`: several detectors, overlapping spans merged (longest wins);
- `PresidioDetector`: Presidio's analyzer as an optional extra (`siloos[presidio]`), imported
  only when constructed, never on by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from siloos.errors import SiloError
from siloos.privacy.known import KnownValueDetector
from siloos.privacy.patterns import PatternDetector
from siloos.privacy.scantext import ScanText, find_in, scan_text
from siloos.privacy.spans import Span, merge_spans

__all__ = [
    "CompositeDetector",
    "Detector",
    "KnownValueDetector",
    "PatternDetector",
    "PresidioDetector",
    "Span",
]


@runtime_checkable
class Detector(Protocol):
    """Anything that reports where personal data sits in a text."""

    def find(self, text: str) -> list[Span]: ...


class CompositeDetector:
    """Runs several detectors and merges their spans: longest wins, known values on ties."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        if not detectors:
            raise ValueError("a composite detector needs at least one detector")
        self.detectors = tuple(detectors)

    takes_scan_text = True  # hands one shared `ScanText` to every detector that takes it

    def find(self, text: str | ScanText) -> list[Span]:
        view = scan_text(text)
        spans: list[Span] = []
        for detector in self.detectors:
            spans.extend(find_in(detector, view))
        return merge_spans(spans)


# Presidio entity names -> SiloOS token types.
PRESIDIO_KINDS: dict[str, str] = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip",
    "US_SSN": "ssn",
    "AU_TFN": "ssn",
    "PERSON": "name",
    "LOCATION": "addr",
    "DATE_TIME": "dob",
}


class PresidioDetector:
    """Presidio's `AnalyzerEngine` as a detector (needs `pip install siloos[presidio]` and a
    spaCy model). Results below `min_score` are dropped; unknown entity types are ignored."""

    def __init__(
        self,
        *,
        language: str = "en",
        min_score: float = 0.4,
        entities: Iterable[str] | None = None,
        analyzer: Any | None = None,
    ) -> None:
        if analyzer is None:
            analyzer = _default_analyzer()
        self._analyzer = analyzer
        self._language = language
        self._min_score = min_score
        self._entities = list(entities) if entities is not None else list(PRESIDIO_KINDS)

    def find(self, text: str) -> list[Span]:
        results = self._analyzer.analyze(
            text=text, language=self._language, entities=self._entities
        )
        return merge_spans(
            Span(r.start, r.end, PRESIDIO_KINDS[r.entity_type])
            for r in results
            if r.entity_type in PRESIDIO_KINDS and r.score >= self._min_score
        )


# The spaCy model Presidio's default analyzer loads for English.
PRESIDIO_SPACY_MODEL = "en_core_web_lg"


def _default_analyzer() -> Any:
    """Presidio's default `AnalyzerEngine`, or a one-line `SiloError` saying what is missing.

    Presidio would try to download its spaCy model when it is absent; SiloOS never fetches
    anything at run time, so a missing model is reported instead.
    """
    try:
        import spacy.util
        from presidio_analyzer import AnalyzerEngine  # optional extra: import lazily
    except ImportError as exc:
        raise SiloError(
            "the Presidio detector needs presidio-analyzer: "
            "pip install 'siloos[presidio]' (and a spaCy model)"
        ) from exc
    if not spacy.util.is_package(PRESIDIO_SPACY_MODEL):
        raise SiloError(
            f"the Presidio detector needs the spaCy model {PRESIDIO_SPACY_MODEL}, which is not "
            f"installed (python -m spacy download {PRESIDIO_SPACY_MODEL})"
        )
    try:
        return AnalyzerEngine()
    except Exception as exc:  # a broken optional install is a clear refusal, not a crash
        raise SiloError(f"Presidio's analyzer could not start: {exc.__class__.__name__}") from exc
