"""siloos.cell: jailed runs of one agent (design §4).

`get_backend(config)` is the one way callers obtain a backend: the nsjail backend after its
preflight checks pass, or `SandboxUnavailable` (exit 5) naming what is missing — never a
silent fallback. `UnsafeNoJail` is returned only when asked for explicitly.
"""

from __future__ import annotations

import threading

from siloos.cell.backend import CheckResult, JailBackend
from siloos.cell.nsjail import NsjailBackend
from siloos.cell.preflight import run_checks
from siloos.cell.spec import CellLimits, CellResult, CellSpec, uid_for_agent
from siloos.cell.unsafe import UnsafeNoJail
from siloos.errors import SandboxUnavailable
from siloos.workspace import CellConfig, WorkspaceConfig

__all__ = [
    "CellLimits", "CellResult", "CellSpec", "CheckResult", "JailBackend", "NsjailBackend",
    "UnsafeNoJail", "get_backend", "preflight", "uid_for_agent",
]

#: Configurations whose preflight passed in this process (the checks start real cells,
#: so a long-running server pays for them once, not per task).
_verified: set[CellConfig] = set()
_lock = threading.Lock()


def preflight(config: WorkspaceConfig | CellConfig) -> list[CheckResult]:
    """Run the nsjail backend's checks for this configuration."""
    cell = config.cell if isinstance(config, WorkspaceConfig) else config
    backend = NsjailBackend(nsjail_path=cell.nsjail, interpreter=cell.interpreter)
    return run_checks(backend, cell.interpreter)


def get_backend(config: WorkspaceConfig | CellConfig, unsafe_no_jail: bool = False) -> JailBackend:
    """The backend that will run cells, or SandboxUnavailable saying what is missing."""
    if unsafe_no_jail:
        return UnsafeNoJail()
    cell = config.cell if isinstance(config, WorkspaceConfig) else config
    backend = NsjailBackend(nsjail_path=cell.nsjail, interpreter=cell.interpreter)
    with _lock:
        if cell in _verified:
            return backend
        failed = [r for r in run_checks(backend, cell.interpreter) if not r.ok]
        if failed:
            first = failed[0]
            names = ", ".join(r.name for r in failed)
            raise SandboxUnavailable(f"cannot build a cell ({names} failed): {first.detail}; "
                                     f"fix: {first.fix}; run `silo doctor` for details")
        _verified.add(cell)
    return backend
