"""Stage what a cell must see where its unprivileged uid can reach it, and nothing more.

nsjail mounts as the cell's mapped uid, so every bind source must be traversable by that
uid — but the workspace (and its `.silo/keys`) must not be made readable to get there. So
each run gets a private folder under a root-owned staging root (`/run/silo-cells`, mode
0711: others may traverse, not list), holding a *copy* of the agent folder (root-owned,
dirs 0755, files 0644; mounted read-only anyway). Copying also freezes the agent for the
run: what the cell executes cannot change under it. The SDK, the same for every cell, is
copied once per version into a shared `sdk-<digest>` folder beside the runs.

Only regular files and folders are copied: a symlink in an agent folder is skipped (never
followed — it could point at a host secret), and so are FIFOs and devices, `__pycache__`
and `.git`. The membrane socket is bind-mounted where it is when its folders are
traversable, else hard-linked into the run folder; either way it is handed to the cell uid
(owner, mode 0600) so no other cell uid can connect to this membrane.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from siloos.errors import InputError, SandboxUnavailable

SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
MAX_STAGED_BYTES = 64 * 1024 * 1024
MAX_STAGED_FILES = 5000
#: How long compiling the SDK's bytecode may take before it is given up.
COMPILE_SECONDS = 60


def staging_root() -> Path:
    """The root-owned, traverse-only folder holding per-run staging folders."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    root = base / "silo-cells"
    try:
        root.mkdir(mode=0o711, exist_ok=True)
        info = root.lstat()
    except OSError as err:
        raise SandboxUnavailable(f"cannot create the cell staging folder {root}: {err}; "
                                 "run `silo doctor`") from None
    # Refuse a folder someone else made (e.g. squatted in /tmp) or anyone may write into.
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        raise SandboxUnavailable(f"cell staging folder {root} is not a private folder owned "
                                 "by this user; remove it and run `silo doctor`")
    os.chmod(root, 0o711)  # noqa: S103 - traverse-only for cell uids, by design
    return root


def copy_tree(src: Path, dst: Path) -> None:
    """Copy regular files and folders only, with fixed modes; refuse oversized trees."""
    total = files = 0
    dst.mkdir(mode=0o755)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        target = dst / here.relative_to(src)
        keep = []
        for name in sorted(dirnames):
            if name in SKIPPED_DIRS or (here / name).is_symlink():
                continue
            keep.append(name)
            (target / name).mkdir(mode=0o755)
        dirnames[:] = keep
        for name in filenames:
            path = here / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue  # symlinks, FIFOs, sockets, devices: never into a cell
            total += info.st_size
            files += 1
            if total > MAX_STAGED_BYTES or files > MAX_STAGED_FILES:
                raise InputError(f"folder is too large to stage into a cell (limit "
                                 f"{MAX_STAGED_BYTES // (1024 * 1024)} MiB, "
                                 f"{MAX_STAGED_FILES} files)", path=src)
            out = target / name
            shutil.copyfile(path, out, follow_symlinks=False)
            os.chmod(out, 0o644)
        os.chmod(target, 0o755)  # noqa: S103 - the cell uid must read its agent copy


def reachable_by(path: Path, uid: int) -> bool:
    """Can `uid` (not root, in no group of ours) traverse every folder above `path`?"""
    for folder in path.parents:
        info = folder.stat()
        if info.st_uid == uid:
            if not info.st_mode & stat.S_IXUSR:
                return False
        elif not info.st_mode & stat.S_IXOTH:
            return False
    return True


def _tree_signature(src: Path) -> str:
    """A digest of a tree's regular files (path, size, mtime): changes when the tree does."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(info.st_mode):
                rel = os.path.relpath(os.path.join(dirpath, name), src)
                digest.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def stage_sdk(sdk_dir: Path, interpreter: str | None = None) -> Path:
    """A shared, read-only copy of the SDK, made once per SDK version and reused by runs.

    Unlike an agent folder, the SDK is ours and the same for every cell, so copying it per
    run would only cost start-up time. The copy is built aside and renamed into place, so a
    concurrent run never sees a half-made one. With `interpreter` (the cell's), the copy
    also holds the SDK's bytecode, compiled by that interpreter: a cell runs with `-B` and
    a read-only `/opt/silo`, so without it every cell compiled the SDK again on start
    (about 4 ms). The bytecode is `unchecked-hash`: the copy never changes (it is named by
    its sources and mounted read-only), and it is written here, by the host, so a cell
    cannot bring its own.
    """
    root = staging_root()
    signature = _tree_signature(sdk_dir)
    if interpreter is not None:
        real = os.path.realpath(interpreter)
        signature += "-" + hashlib.sha256(real.encode()).hexdigest()[:8]
    target = root / f"sdk-{signature}"
    if target.is_dir():
        return target
    building = Path(tempfile.mkdtemp(prefix="sdk-building-", dir=root))
    try:
        copy_tree(sdk_dir, building / "sdk")
        if interpreter is not None:
            _compile_bytecode(building / "sdk", interpreter)
        try:
            os.rename(building / "sdk", target)
        except OSError:
            if not target.is_dir():  # lost a race to an identical copy: fine; else fail
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _compile_bytecode(folder: Path, interpreter: str) -> None:
    """Compile `folder`'s modules with the cell's interpreter (its own bytecode format).
    Best effort: without bytecode a cell only starts slower, so a failure is not an error."""
    try:
        # -S: no site hooks (.pth files, sitecustomize) run as the host user to compile.
        subprocess.run([interpreter, "-I", "-S", "-m", "compileall", "-q", "--invalidation-mode",
                        "unchecked-hash", str(folder)], env={}, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=COMPILE_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError):
        # Cut short (e.g. timed out): what it wrote (modes from our umask, temporary
        # files) is dropped, so the copy is one without bytecode.
        for dirpath, dirnames, _ in os.walk(folder):
            if "__pycache__" in dirnames:
                dirnames.remove("__pycache__")
                shutil.rmtree(os.path.join(dirpath, "__pycache__"))
        return
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)  # noqa: S103 - the cell uid must read its SDK copy
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


@dataclass
class StagedRun:
    """One run's staged folder: agent copy, SDK copy, the socket path to bind."""

    folder: Path
    agent_dir: Path
    sdk_dir: Path
    socket: Path | None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _stage_socket(socket: Path, uid: int, folder: Path) -> Path:
    try:
        info = socket.stat()
    except OSError as err:
        raise SandboxUnavailable(f"membrane socket {socket}: {err}") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise SandboxUnavailable(f"membrane socket {socket} is not a unix socket")
    os.chown(socket, uid, uid)
    os.chmod(socket, 0o600)
    if reachable_by(socket, uid):
        return socket
    link = folder / "membrane.sock"
    try:
        os.link(socket, link)
    except OSError as err:
        raise SandboxUnavailable(
            f"the cell uid cannot reach the membrane socket {socket} (a folder above it is "
            f"not traversable) and it cannot be linked into {folder}: {err}; put the socket "
            "under a folder with mode o+x") from None
    return link


def stage(agent_dir: Path, sdk_dir: Path, socket: Path | None, uid: int,
          interpreter: str | None = None) -> StagedRun:
    """Build one run's staging folder; the caller removes it when the cell has ended.
    `interpreter`: the cell's, for the SDK copy's bytecode (`stage_sdk`)."""
    for what, path in (("agent folder", agent_dir), ("SDK folder", sdk_dir)):
        if not path.is_dir():
            raise InputError(f"{what} not found", path=path)
    if not (agent_dir / "main.py").is_file():
        raise InputError("agent folder has no main.py", path=agent_dir)
    sdk = stage_sdk(sdk_dir, interpreter)
    folder = Path(tempfile.mkdtemp(prefix="cell-", dir=staging_root()))
    try:
        os.chmod(folder, 0o711)  # noqa: S103 - traverse-only for the cell uid
        copy_tree(agent_dir, folder / "agent")
        staged_socket = _stage_socket(socket, uid, folder) if socket is not None else None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StagedRun(folder=folder, agent_dir=folder / "agent", sdk_dir=sdk,
                     socket=staged_socket)
