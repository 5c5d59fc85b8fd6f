"""The detector benchmark reports Presidio's figures, or exactly why there are none."""

from __future__ import annotations

import sys

import pytest

from siloos.bench import detector as bench
from siloos.bench.detector import detector_benchmark, generate_samples, scan_speed
from siloos.privacy.detect import PatternDetector


def test_without_presidio_the_benchmark_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import now fails
    result = detector_benchmark(samples=40, seed=5, tokenize_bytes=50_000)
    assert result["presidio"] is None
    assert "not installed" in result["presidio_reason"]
    assert result["f2"] > 0 and result["tokenize_mb_s"] > 0 and result["scan_mb_s"] > 0


def test_presidio_figures_when_installed() -> None:
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError:
        presidio, reason = bench._presidio(generate_samples(30, seed=5))
        assert presidio is None and "pip install" in reason
        return
    presidio, reason = bench._presidio(generate_samples(60, seed=5))
    assert reason is None and presidio is not None
    assert 0 <= presidio["precision"] <= 1 and 0 <= presidio["recall"] <= 1
    assert presidio["gold"] > 0 and presidio["predicted"] > 0
    assert presidio["scan_mb_s"] > 0
    assert "EmailRecognizer" in presidio["recognizers"]
    assert "pattern recognizers" in presidio["compared"]


def test_scan_speed_times_every_sentence() -> None:
    calls: list[str] = []

    class Counting(PatternDetector):
        def find(self, text):  # type: ignore[no-untyped-def]
            calls.append(text)
            return super().find(text)

    samples = generate_samples(10, seed=1)
    assert scan_speed(samples, Counting(), repeat=2) > 0
    assert len(calls) == 1 + 2 * len(samples)  # one warm-up call, then two passes
