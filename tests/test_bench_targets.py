"""The issue targets judge a report from its own figures, and refuse to judge nothing."""

from __future__ import annotations

import pytest

from siloos.bench.targets import ISSUE_TARGETS, AtLeast, RatioAtMost, figure, judge

REPORT = {
    "cell_start_ms": {"p50": 30.0, "p95": 40.0}, "bare_start_ms": {"p50": 20.0, "p95": 25.0},
    "membrane_call_us": {"p50": 500.0, "p99": 900.0}, "echo_floor_us": {"p50": 100.0, "p99": 150.0},
    "tasks_per_s": 10.0, "bare_tasks_per_s": 20.0, "tokenize_mb_s": 12.5,
    "detector": {"precision": 0.99, "recall": 0.97, "f2": 0.974, "samples": 600},
}


def test_issue_targets_on_a_known_report() -> None:
    verdicts = {v.name: v for v in judge(REPORT)}
    assert verdicts["cell start"].met and verdicts["cell start"].measured == 1.5
    assert not verdicts["membrane call p50"].met and verdicts["membrane call p50"].measured == 5
    assert verdicts["membrane call p99"].met  # 900 <= 10 x 100
    assert verdicts["detector F2"].met
    assert not verdicts["tokenize speed"].met
    assert "over 4x" in verdicts["membrane call p50"].detail


def test_ratio_exactly_at_the_limit_is_met_and_just_over_is_not() -> None:
    at = {"a": 200.0, "b": 100.0}
    assert RatioAtMost("r", "a", "b", 2).verify(at).met
    assert not RatioAtMost("r", "a", "b", 2).verify({"a": 201.0, "b": 100.0}).met
    assert AtLeast("f", "a", 200).verify(at).met
    assert not AtLeast("f", "a", 200.5).verify(at).met


def test_a_zero_baseline_is_a_miss_not_a_division_error() -> None:
    verdict = RatioAtMost("r", "a", "b", 2).verify({"a": 1.0, "b": 0})
    assert not verdict.met and "no ratio" in verdict.detail


def test_an_empty_target_list_is_refused() -> None:
    with pytest.raises(ValueError):
        judge(REPORT, [])


@pytest.mark.parametrize("report", [{}, {"detector": {}}, {"detector": {"f2": None}},
                                    {"detector": {"f2": True}}, {"detector": "x"}])
def test_missing_or_non_numeric_figures_are_refused(report: dict) -> None:
    with pytest.raises((KeyError, TypeError)):
        figure(report, "detector.f2")


def test_every_issue_target_is_named_once() -> None:
    names = [t.name for t in ISSUE_TARGETS]
    assert len(names) == len(set(names)) == 5
