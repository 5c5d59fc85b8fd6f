"""What one cell run is asked to do (`CellSpec`) and what came out of it (`CellResult`).

This module owns the cell's contract with its callers (design §4): the limits a cell runs
under, the only environment it may receive (`SILO_*` names), the fixed paths it sees, and
the per-agent outside uid. Backends (nsjail, the unsafe developer backend) consume a spec;
nothing here starts a process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from siloos.errors import UsageError

#: Paths inside the cell (design §4, docs/architecture.md "The cell's view").
CELL_AGENT_DIR = "/agent"
CELL_SDK_DIR = "/opt/silo"
CELL_SOCKET = "/run/silo/membrane.sock"
CELL_TMP = "/tmp"
CELL_BOOTSTRAP = f"{CELL_SDK_DIR}/bootstrap.py"

#: `-I` isolates from PYTHON* variables and the user site; `-B` writes no .pyc (the cell's
#: folders are read-only anyway, and a failed write would only cost time).
INTERPRETER_FLAGS = ("-I", "-B")

#: Default cap on each of stdout and stderr kept from one cell.
DEFAULT_OUTPUT_CAP = 256 * 1024

TRUNCATION_MARKER = "\n[silo: output truncated, {dropped} more bytes dropped]\n"

CellStatus = Literal["exited", "timeout", "killed", "oom"]

_ENV_NAME = re.compile(r"^SILO_[A-Z0-9_]{1,64}$")

#: Limits the cell enforces (design §3.1). Budget limits (tool_calls, llm_calls, llm_tokens)
#: belong to the membrane and are accepted here only so a manifest's dict can be passed whole.
CELL_LIMIT_KEYS = ("wall_seconds", "memory_mb", "pids", "tmp_mb")
DERIVED_LIMIT_KEYS = ("fsize_mb", "nofile", "cpu_seconds", "as_mb", "nproc")
MEMBRANE_LIMIT_KEYS = ("tool_calls", "llm_calls", "llm_tokens")


@dataclass(frozen=True)
class CellLimits:
    """Every resource limit of one cell, each set deliberately (nsjail's defaults are not).

    The four manifest limits are required; the rlimits are derived from them unless given:
    file size = tmp_mb (no file can outgrow the scratch dir), open files = 64, CPU seconds =
    wall seconds, address space = a generous backstop above memory_mb (the cgroup is the real
    memory limit), processes per uid = 4 x pids (the pids cgroup is the real limit; the
    rlimit counts every cell of the same agent, so it must leave room for concurrent runs).
    """

    wall_seconds: int
    memory_mb: int
    pids: int
    tmp_mb: int
    fsize_mb: int
    nofile: int
    cpu_seconds: int
    as_mb: int
    nproc: int

    @classmethod
    def from_dict(cls, limits: dict[str, int]) -> CellLimits:
        """Validate a limits dict (a manifest's, possibly with derived overrides)."""
        known = set(CELL_LIMIT_KEYS) | set(DERIVED_LIMIT_KEYS) | set(MEMBRANE_LIMIT_KEYS)
        unknown = sorted(set(limits) - known)
        if unknown:
            raise UsageError(f"cell limits: unknown limit {unknown[0]!r}")
        for key, value in limits.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"cell limits: {key} must be a positive integer, got {value!r}")
        missing = [k for k in CELL_LIMIT_KEYS if k not in limits]
        if missing:
            raise UsageError(f"cell limits: missing {missing[0]!r}")
        wall, memory, pids, tmp = (limits[k] for k in CELL_LIMIT_KEYS)
        return cls(
            wall_seconds=wall,
            memory_mb=memory,
            pids=pids,
            tmp_mb=tmp,
            fsize_mb=limits.get("fsize_mb", tmp),
            nofile=limits.get("nofile", 64),
            cpu_seconds=limits.get("cpu_seconds", wall),
            as_mb=limits.get("as_mb", max(1024, memory * 4)),
            nproc=limits.get("nproc", pids * 4),
        )


def uid_for_agent(name: str, uid_base: int, uid_count: int) -> int:
    """The agent's stable outside uid: uid_base + sha256(name) mod uid_count, never 0.

    Stable across runs and hosts with the same config, so files and audit lines line up;
    distinct agents almost always get distinct uids (collisions only share a uid between
    two agents' cells, which still see nothing of each other's folders).
    """
    if uid_base <= 0 or uid_count <= 0:
        raise UsageError("cell uid range must be positive (uid 0 is never a cell uid)")
    if not name:
        raise UsageError("cell uid: agent name is empty")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    uid = uid_base + int.from_bytes(digest[:8], "big") % uid_count
    if uid <= 0 or uid >= 2**32 - 1:
        raise UsageError(f"cell uid {uid} out of range")
    return uid


@dataclass(frozen=True)
class CellSpec:
    """One cell run: which agent folder, which interpreter, as whom, under which limits.

    Construction refuses what would weaken the cell: uid 0, an environment variable not
    named `SILO_*`, limits that are missing or not positive.
    """

    agent_dir: Path
    interpreter: str
    uid: int
    limits: dict[str, int]
    sdk_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    membrane_socket: Path | None = None
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP

    def __post_init__(self) -> None:
        if not isinstance(self.uid, int) or isinstance(self.uid, bool) or self.uid <= 0:
            raise UsageError(f"cell uid must be a positive integer (never 0), got {self.uid!r}")
        for name, value in self.env.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise UsageError(f"cell environment: only SILO_* names may enter a cell, "
                                 f"refused {name!r}")
            if not isinstance(value, str) or "\0" in value:
                raise UsageError(f"cell environment: {name} must be a string without NUL")
        if self.output_cap_bytes <= 0:
            raise UsageError("cell output cap must be positive")
        if not self.interpreter.startswith("/"):
            raise UsageError(f"cell interpreter must be an absolute path: {self.interpreter!r}")
        self.cell_limits  # noqa: B018 - validate now, not at run time

    @property
    def cell_limits(self) -> CellLimits:
        """The validated limits with derived rlimits filled in."""
        return CellLimits.from_dict(self.limits)


@dataclass(frozen=True)
class CellResult:
    """What one cell run produced. stdout/stderr are capped, with a marker when cut."""

    exit_code: int
    status: CellStatus
    stdout: str
    stderr: str
    wall_ms: int
    #: The jail's own diagnostics (nsjail's log), for the cell log; never shown to the agent.
    jail_log: str = ""
