"""The suite's parts refuse to report figures they did not measure."""

from __future__ import annotations

import json

import pytest

from siloos.bench.cell_calls import _rounds, _samples
from siloos.bench.errors import BenchmarkFailed
from siloos.bench.suite import SuiteSize
from siloos.bench.tasks import measure_bare_tasks
from siloos.cell.spec import CellResult


def _cell(stdout: str, exit_code: int = 0, status: str = "exited") -> CellResult:
    return CellResult(exit_code=exit_code, status=status, stdout=stdout,  # type: ignore[arg-type]
                      stderr="boom", wall_ms=1)


SAMPLES = [30.5, 10.5, 20.0, 11.0, 12.0]


def _printed(**fields: object) -> str:
    return json.dumps({"samples_us": SAMPLES, "n": 5, "failed": 0, **fields})


def test_cell_samples_are_read_from_the_last_line() -> None:
    assert _samples(_cell("noise\n" + _printed() + "\n"), 5, "x") == SAMPLES


@pytest.mark.parametrize(("n", "rounds"), [
    (1, [1]), (24, [24]), (50, [25, 25]), (101, [26, 25, 25, 25]),
    (2000, [63] * 16 + [62] * 16), (4000, [125] * 32)])
def test_calls_are_split_into_rounds_that_sum_to_n(n: int, rounds: list[int]) -> None:
    assert _rounds(n) == rounds
    assert sum(rounds) == n


@pytest.mark.parametrize("result", [
    _cell(_printed(failed=1)),                                       # a refusal was timed
    _cell(_printed(n=4)),                                            # fewer calls than asked
    _cell(_printed(samples_us=SAMPLES[:4])),                         # fewer samples than calls
    _cell(_printed(samples_us=[1, "x", 2, 3, 4])),                   # a sample is no number
    _cell(""),                                                       # printed nothing
    _cell("not json"),
    _cell(json.dumps({"n": 5, "failed": 0})),                        # no samples at all
    _cell(json.dumps({"p50": 1, "p99": 2, "n": 5, "failed": 0})),   # figures, not samples
    _cell(_printed(), exit_code=1),
    _cell(_printed(), status="timeout"),
])
def test_a_cell_that_did_not_measure_calls_gives_no_figure(result: CellResult) -> None:
    with pytest.raises(BenchmarkFailed):
        _samples(result, 5, "membrane call")


def test_bare_tasks_run_the_trivial_script_to_its_finish() -> None:
    rate = measure_bare_tasks(2, "/usr/bin/python3", warmup=0)
    assert rate.tasks == 2 and rate.tasks_per_s > 0 and rate.workers == 1


def test_bare_tasks_fail_loudly_when_the_script_fails() -> None:
    with pytest.raises(BenchmarkFailed, match="exited"):
        measure_bare_tasks(1, "/bin/false", warmup=0)


@pytest.mark.parametrize("bad", [0, -1, True])
def test_suite_sizes_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError):
        SuiteSize(starts=bad, calls=1, tasks=1, detector_samples=1, tokenize_bytes=1)


def test_full_size_meets_the_issue_sample_count() -> None:
    assert SuiteSize.full().detector_samples >= 500
