"""The seam between "run this agent in a cell" and the thing that builds the cell.

`JailBackend` is the interface (nsjail is the real one; `UnsafeNoJail` is a loud developer
tool). `CheckResult` is what every preflight check returns: ok, or a failure with a reason
and a one-line fix, so that `silo doctor` and `silo run`'s refusal say the same thing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from siloos.cell.spec import CellResult, CellSpec


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named preflight check."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    @classmethod
    def passed(cls, name: str, detail: str) -> CheckResult:
        return cls(name=name, ok=True, detail=detail)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str) -> CheckResult:
        return cls(name=name, ok=False, detail=detail, fix=fix)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


class JailBackend(ABC):
    """Something that can run a `CellSpec` and say whether it can, before trying."""

    #: Short name shown in logs and `silo doctor` ("nsjail", "unsafe-no-jail").
    name: str

    #: True only for a backend that really isolates; callers may refuse others.
    isolates: bool = True

    @abstractmethod
    def preflight(self) -> list[CheckResult]:
        """Check that this backend can build a cell on this host right now."""

    @abstractmethod
    async def run(self, spec: CellSpec) -> CellResult:
        """Run the agent described by `spec` to its end (or its wall limit)."""
