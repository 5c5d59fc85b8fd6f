"""The issue targets a bench report is judged against, as small named policy objects.

Each target's `verify(report)` returns a `TargetResult`: met or not, what was measured,
the limit it was held to, and a one-line reason. Ratios compare a SiloOS figure with its
baseline from the same run (design §14), so they hold on a noisy machine:

* cell start p50 <= 2x the bare start p50 (issue 3);
* membrane call p50 <= 4x the echo floor p50, and p99 <= 10x the floor's p50 (issue 3);
* detector F2 >= 0.95 on the pattern entity types, tokenizing >= 20 MB/s (issue 4).

`judge(report, targets)` refuses an empty list of targets: "nothing to check" is never
reported as "all met".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TargetResult:
    """One target's verdict on one report."""

    name: str
    met: bool
    measured: float
    limit: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "met": self.met, "measured": self.measured,
                "limit": self.limit, "detail": self.detail}


def figure(report: dict[str, Any], path: str) -> float:
    """The number at a dotted path of the report (`"cell_start_ms.p50"`)."""
    value: Any = report
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"bench report has no {path}")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"bench report's {path} is not a number: {value!r}")
    return float(value)


class Target(ABC):
    """A named expectation of a bench report."""

    name: str

    @abstractmethod
    def verify(self, report: dict[str, Any]) -> TargetResult:
        """Judge `report` against this target."""


@dataclass(frozen=True)
class RatioAtMost(Target):
    """`measured / baseline <= factor`, both figures from the same run."""

    name: str
    measured: str
    baseline: str
    factor: float

    def verify(self, report: dict[str, Any]) -> TargetResult:
        value, base = figure(report, self.measured), figure(report, self.baseline)
        if base <= 0:
            return TargetResult(self.name, False, value, self.factor,
                                f"baseline {self.baseline} is {base}, no ratio can be taken")
        ratio = round(value / base, 2)
        met = ratio <= self.factor
        return TargetResult(self.name, met, ratio, self.factor,
                            f"{self.measured} {value:g} is {ratio:g}x {self.baseline} {base:g} "
                            f"({'within' if met else 'over'} {self.factor:g}x)")


@dataclass(frozen=True)
class AtLeast(Target):
    """`figure >= minimum`."""

    name: str
    path: str
    minimum: float

    def verify(self, report: dict[str, Any]) -> TargetResult:
        value = figure(report, self.path)
        met = value >= self.minimum
        return TargetResult(self.name, met, value, self.minimum,
                            f"{self.path} {value:g} {'>=' if met else '<'} {self.minimum:g}")


ISSUE_TARGETS: tuple[Target, ...] = (
    RatioAtMost("cell start", "cell_start_ms.p50", "bare_start_ms.p50", 2),
    RatioAtMost("membrane call p50", "membrane_call_us.p50", "echo_floor_us.p50", 4),
    RatioAtMost("membrane call p99", "membrane_call_us.p99", "echo_floor_us.p50", 10),
    AtLeast("detector F2", "detector.f2", 0.95),
    AtLeast("tokenize speed", "tokenize_mb_s", 20),
)


def judge(report: dict[str, Any], targets: Sequence[Target] = ISSUE_TARGETS) -> list[TargetResult]:
    """Every target's verdict; an empty list of targets is refused."""
    if not targets:
        raise ValueError("no targets to judge the report against")
    return [target.verify(report) for target in targets]
