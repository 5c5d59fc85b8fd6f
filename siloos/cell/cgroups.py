"""Memory, pids and CPU limits through cgroups, v1 or v2, detected at run time.

nsjail puts each cell in a cgroup it creates (`NSJAIL.<pid>`) under a parent that must
already exist, and removes it when the cell ends — taking its counters with it. So every
run gets its own parent, `SILO/<run id>`, created here: the memory limit is written on that
parent (nsjail's own limit on the child is set a little higher, so the parent's is the one
that bites) and after the run the parent still shows whether the cell ran into it (OOM).
The pids and CPU parents are shared (`SILO`), as nothing is read back from them.

Detection reads /proc/self/mounts: a v1 hierarchy for each of memory and pids wins (on a
hybrid host those controllers are bound to v1 and absent from v2); otherwise a cgroup2
mount whose `cgroup.controllers` lists memory and pids. Neither → `CgroupUnavailable`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PARENT = "SILO"
MIB = 1024 * 1024
#: nsjail's own limit on its child cgroup sits this far above the per-run parent's.
CHILD_SLACK_BYTES = 16 * MIB
#: A v1 group whose peak usage came this close to its limit ran out of memory.
PEAK_MARGIN_BYTES = 1 * MIB
#: One CPU's worth of time per second: a cell cannot starve the host of its other cores.
CPU_MS_PER_SEC = 1000


class CgroupUnavailable(Exception):
    """No usable memory+pids cgroup controllers on this host (the message says why)."""


@dataclass(frozen=True)
class CgroupLayout:
    """Where the controllers live: per-controller mounts (v1) or one unified mount (v2)."""

    version: Literal[1, 2]
    memory: Path
    pids: Path
    cpu: Path | None = None

    def describe(self) -> str:
        if self.version == 2:
            return f"cgroup v2 at {self.memory}"
        cpu = f", cpu {self.cpu}" if self.cpu else ""
        return f"cgroup v1 (memory {self.memory}, pids {self.pids}{cpu})"


def _parse_mounts(text: str) -> list[tuple[Path, str, set[str]]]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in {"cgroup", "cgroup2"}:
            mounts.append((Path(parts[1]), parts[2], set(parts[3].split(","))))
    return mounts


def detect(mounts_text: str | None = None) -> CgroupLayout:
    """Find memory and pids controllers; raise CgroupUnavailable naming what is missing."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/self/mounts").read_text()
        except OSError as err:
            raise CgroupUnavailable(f"cannot read /proc/self/mounts: {err}") from None
    mounts = _parse_mounts(mounts_text)
    v1 = {ctl: path for path, fstype, opts in mounts if fstype == "cgroup"
          for ctl in ("memory", "pids", "cpu") if ctl in opts}
    if "memory" in v1 and "pids" in v1:
        return CgroupLayout(version=1, memory=v1["memory"], pids=v1["pids"], cpu=v1.get("cpu"))
    for path, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        try:
            controllers = set((path / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        if {"memory", "pids"} <= controllers:
            cpu = path if "cpu" in controllers else None
            return CgroupLayout(version=2, memory=path, pids=path, cpu=cpu)
    missing = [c for c in ("memory", "pids") if c not in v1]
    raise CgroupUnavailable(
        f"no cgroup {' and '.join(missing)} controller (v1) and no cgroup v2 mount with "
        "memory and pids enabled")


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _enable_v2_controllers(folder: Path, controllers: list[str]) -> None:
    """Delegate controllers to `folder`'s children (v2 needs it at every level)."""
    control = folder / "cgroup.subtree_control"
    enabled = set(control.read_text().split())
    wanted = [c for c in controllers if c not in enabled]
    if wanted:
        _write(control, " ".join(f"+{c}" for c in wanted))


@dataclass
class RunCgroup:
    """The per-run cgroup parent(s) of one cell: create, hand to nsjail, read back, remove."""

    layout: CgroupLayout
    memory_bytes: int
    pids: int
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    _created: list[Path] = field(default_factory=list)

    @property
    def run_folder(self) -> Path:
        return self.layout.memory / PARENT / self.run_id

    def create(self) -> None:
        """Make the parents and write the memory limit; OSError if the host refuses."""
        layout = self.layout
        if layout.version == 1:
            for mount in filter(None, (layout.memory, layout.pids, layout.cpu)):
                (mount / PARENT).mkdir(exist_ok=True)
            self.run_folder.mkdir()
            self._created.append(self.run_folder)
            _write(self.run_folder / "memory.limit_in_bytes", str(self.memory_bytes))
            memsw = self.run_folder / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                # Without this a host with swap would let the cell swap past its limit.
                _write(memsw, str(self.memory_bytes))
            return
        controllers = ["memory", "pids"] + (["cpu"] if layout.cpu else [])
        _enable_v2_controllers(layout.memory, controllers)
        (layout.memory / PARENT).mkdir(exist_ok=True)
        _enable_v2_controllers(layout.memory / PARENT, controllers)
        self.run_folder.mkdir()
        self._created.append(self.run_folder)
        _enable_v2_controllers(self.run_folder, controllers)
        _write(self.run_folder / "memory.max", str(self.memory_bytes))
        swap = self.run_folder / "memory.swap.max"
        if swap.exists():
            _write(swap, "0")

    def nsjail_options(self) -> dict[str, Any]:
        """Keyword arguments for `nsjail.NsjailOptions` that put the cell under this group."""
        child_memory = self.memory_bytes + CHILD_SLACK_BYTES
        opts: dict[str, Any] = {"cgroup_mem_max": child_memory, "cgroup_pids_max": self.pids}
        if self.layout.version == 1:
            opts.update(
                cgroup_mem_mount=str(self.layout.memory),
                cgroup_mem_parent=f"{PARENT}/{self.run_id}",
                cgroup_pids_mount=str(self.layout.pids),
                cgroup_pids_parent=PARENT,
            )
            if self.layout.cpu:
                opts.update(cgroup_cpu_mount=str(self.layout.cpu), cgroup_cpu_parent=PARENT,
                            cgroup_cpu_ms_per_sec=CPU_MS_PER_SEC)
        else:
            opts.update(use_cgroupv2=True, cgroupv2_mount=str(self.run_folder))
            if self.layout.cpu:
                opts.update(cgroup_cpu_ms_per_sec=CPU_MS_PER_SEC)
        return opts

    def memory_limit_hit(self) -> bool:
        """Did the cell run into its memory limit (so a SIGKILL was the OOM killer)?"""
        try:
            if self.layout.version == 1:
                # Recent kernels no longer count failcnt/oom_kill on every v1 group, but the
                # peak usage still shows the group ran up against its limit (charges come
                # in batches, so "at the limit" means within one batch of it).
                failcnt = int((self.run_folder / "memory.failcnt").read_text())
                peak = int((self.run_folder / "memory.max_usage_in_bytes").read_text())
                return failcnt > 0 or peak >= self.memory_bytes - PEAK_MARGIN_BYTES
            events = (self.run_folder / "memory.events").read_text().split()
            counts = dict(zip(events[::2], events[1::2], strict=False))
            return int(counts.get("oom_kill", "0")) > 0 or int(counts.get("max", "0")) > 0
        except (OSError, ValueError):
            return False

    def kill_all(self) -> None:
        """SIGKILL every process of the cell, found through its cgroup.

        Used when nsjail itself is killed (the outer backstop, a cancelled run). The cell
        normally dies with nsjail, but it lives in its own session, so the process group
        kill cannot reach it: the cgroup is the one complete list, so kill from it too.
        Killing the namespace's init (always listed here) ends the whole pid namespace.
        """
        kill_file = self.run_folder / "cgroup.kill"
        if self.layout.version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
            return
        for _ in range(50):
            pids = []
            for procs in self.run_folder.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids += [int(p) for p in procs.read_text().split()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Remove the per-run groups, and any child group a killed nsjail left behind."""
        for folder in reversed(self._created):
            leftovers = [child.name for child in folder.iterdir() if child.is_dir()] \
                if folder.exists() else []
            for name in leftovers:
                shared = [mount / PARENT / name for mount in (self.layout.pids, self.layout.cpu)
                          if mount is not None and self.layout.version == 1]
                for child in [*shared, folder / name]:
                    _rmdir(child)
            _rmdir(folder)
        self._created.clear()


def _rmdir(folder: Path) -> None:
    for _ in range(20):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # EBUSY for a moment while the kernel finishes tearing the cell down.
            time.sleep(0.01)


def probe(layout: CgroupLayout) -> None:
    """Create and remove a throwaway run group: proves the controllers are writable."""
    group = RunCgroup(layout=layout, memory_bytes=64 * MIB, pids=8)
    try:
        group.create()
    finally:
        with contextlib.suppress(OSError):
            group.remove()
    if group.run_folder.exists():
        raise CgroupUnavailable(f"cannot remove {group.run_folder}")
    if not os.access(layout.pids / PARENT, os.W_OK):
        raise CgroupUnavailable(f"{layout.pids / PARENT} is not writable")
