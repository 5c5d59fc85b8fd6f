"""The detector benchmark: generation is labelled and deterministic; figures are sane."""

from __future__ import annotations

from siloos.bench.detector import detector_benchmark, generate_samples, score
from siloos.privacy.detect import PatternDetector
from siloos.privacy.spans import Span


def test_generation_is_deterministic_and_labelled() -> None:
    first = generate_samples(120, seed=7)
    assert [s.text for s in first] == [s.text for s in generate_samples(120, seed=7)]
    assert [s.text for s in first] != [s.text for s in generate_samples(120, seed=8)]
    labelled = [s for s in first if s.spans]
    assert len(labelled) > 60 and len(labelled) < 120  # positives and negatives
    for sample in labelled:
        for span in sample.spans:
            assert 0 <= span.start < span.end <= len(sample.text)
            assert sample.text[span.start : span.end].strip() == sample.text[span.start : span.end]


def test_score_counts_overlap_of_same_kind() -> None:
    class Fixed:
        def find(self, text: str) -> list[Span]:
            return [Span(0, 3, "email"), Span(5, 8, "phone")]

    from siloos.bench.detector import Sample

    samples = [Sample("abcdefghij", [Span(1, 4, "email"), Span(5, 8, "card")])]
    result = score(samples, Fixed())
    assert result["precision"] == 0.5 and result["recall"] == 0.5


def test_pattern_detector_meets_target_on_another_seed() -> None:
    result = score(generate_samples(500, seed=99), PatternDetector())
    assert result["f2"] >= 0.95, result


def test_benchmark_shape() -> None:
    result = detector_benchmark(samples=60, seed=3, tokenize_bytes=100_000)
    assert set(result) >= {"precision", "recall", "f2", "samples", "tokenize_mb_s", "presidio"}
    assert result["samples"] == 60
    assert result["tokenize_mb_s"] > 0
    if result["presidio"] is None:
        assert "presidio" in result["presidio_reason"]
