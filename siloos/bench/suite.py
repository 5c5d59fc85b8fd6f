"""The whole `silo bench` run: every §14 figure, measured once, on this machine, in order.

`run_suite(size, cell)` first checks that a cell can be built (the same preflight `silo run`
uses): without nsjail, user namespaces or cgroups it raises `SandboxUnavailable` (exit 5)
and measures nothing — a benchmark never falls back to an unjailed figure, and never fills
a field with a placeholder. It then measures, each SiloOS figure beside its baseline:
start-up (jailed and bare in turns), the in-cell call round trip (echo floor and membrane
in turns), trivial tasks (router, then bare), and the detector. The returned object has exactly the
keys of design §14, in that order, plus one `extra` key with what the figures mean
(sample counts, worker count, ratios, target verdicts, Presidio's figures beside ours).
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

from siloos.bench.cell_calls import measure_calls_in_cells
from siloos.bench.starts import measure_starts
from siloos.bench.targets import judge
from siloos.bench.tasks import DEFAULT_WORKERS, measure_bare_tasks, measure_router_tasks
from siloos.cell import get_backend
from siloos.workspace import CellConfig

#: The §14 keys, in the design's order; `extra` follows them.
SECTION_14_KEYS = ("cell_start_ms", "bare_start_ms", "membrane_call_us", "echo_floor_us",
                   "tasks_per_s", "bare_tasks_per_s", "tokenize_mb_s", "detector")


@dataclass(frozen=True)
class SuiteSize:
    """How many samples each part takes."""

    starts: int
    calls: int
    tasks: int
    detector_samples: int
    tokenize_bytes: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer")

    @classmethod
    def full(cls) -> SuiteSize:
        """The reported run: >= 500 labelled sentences (issue 4), 2000 calls per server, 30
        jailed and 30 bare starts."""
        return cls(starts=30, calls=2000, tasks=20, detector_samples=600,
                   tokenize_bytes=4_000_000)

    @classmethod
    def quick(cls) -> SuiteSize:
        """A smoke run for tests: same code paths, few samples (figures are noisier)."""
        return cls(starts=3, calls=100, tasks=3, detector_samples=120, tokenize_bytes=200_000)


def _start_figures(size: SuiteSize, cell: CellConfig, backend: Any) -> tuple[dict, dict]:
    # A run that ends without its request raises BenchmarkFailed: no figure, exit 4.
    starts = measure_starts(size.starts, backend=backend, interpreter=cell.interpreter)
    return starts.cell_start_ms, starts.bare_start_ms


def _ratio(value: float, base: float) -> float | None:
    return round(value / base, 2) if base > 0 else None


def run_suite(size: SuiteSize, cell: CellConfig | None = None) -> dict[str, Any]:
    """Measure every figure of design §14 in this process; see the module docstring."""
    from siloos.bench.detector import detector_benchmark  # Faker: imported only when run

    cell = cell or CellConfig()
    backend = get_backend(cell)  # SandboxUnavailable (exit 5) before anything is measured
    cell_start, bare_start = _start_figures(size, cell, backend)
    calls = measure_calls_in_cells(size.calls, backend, cell)
    tasks = measure_router_tasks(size.tasks, cell)
    bare_tasks = measure_bare_tasks(size.tasks, cell.interpreter)
    detector = detector_benchmark(size.detector_samples, tokenize_bytes=size.tokenize_bytes)

    report: dict[str, Any] = {
        "cell_start_ms": cell_start,
        "bare_start_ms": bare_start,
        "membrane_call_us": calls.membrane_call_us,
        "echo_floor_us": calls.echo_floor_us,
        "tasks_per_s": tasks.tasks_per_s,
        "bare_tasks_per_s": bare_tasks.tasks_per_s,
        "tokenize_mb_s": detector["tokenize_mb_s"],
        "detector": {key: detector[key] for key in ("precision", "recall", "f2", "samples")},
    }
    report["extra"] = {
        "notes": {
            "workers": DEFAULT_WORKERS,
            "tasks": "sequential through run_task (the router's default worker count); "
                     "bare: the same interpreter and script as plain subprocesses against "
                     "a canned-reply unix socket server, no jail, no keys",
            "calls": "the same stdlib client (bench/agents/timing/main.py) inside an nsjail "
                     "cell, same interpreter and keys, against a real membrane "
                     "(identity.verify: keys, scope, tokenizing, audit) and against a "
                     "canned-reply asyncio server",
            "starts": "router decides to run -> the cell's first request answered; bare: "
                      "the same interpreter and script as a plain subprocess; nearest-rank "
                      "percentiles throughout",
        },
        "samples": {"starts": size.starts, "calls": calls.calls, "tasks": tasks.tasks,
                    "detector": detector["samples"], "tokenize_mb": detector["tokenize_mb"]},
        "interpreter": cell.interpreter,
        "host": {"cpus": os.cpu_count(), "platform": platform.platform(),
                 "python": platform.python_version()},
        "ratios": {
            "cell_start_p50": _ratio(cell_start["p50"], bare_start["p50"]),
            "membrane_call_p50": _ratio(calls.membrane_call_us["p50"],
                                        calls.echo_floor_us["p50"]),
            "membrane_call_p99_to_floor_p50": _ratio(calls.membrane_call_us["p99"],
                                                     calls.echo_floor_us["p50"]),
            "bare_tasks_to_tasks": _ratio(bare_tasks.tasks_per_s, tasks.tasks_per_s),
        },
        "detector_per_kind": detector["per_kind"],
        "detector_match": detector["match"],
        "detector_presidio": detector["presidio"],
        "detector_presidio_reason": detector["presidio_reason"],
    }
    report["extra"]["targets"] = [result.to_dict() for result in judge(report)]
    return report
