"""Agent packs: `NAME-VERSION.silo`, a byte-reproducible tar.gz of one agent folder.

The pack's sha256 is the agent version's identity: base keys carry it as `digest` (design
§6), so the same folder must give the same bytes whatever its files' mtimes, owners or the
order the filesystem lists them. Every member is therefore written with sorted names,
mtime 0, uid/gid 0, empty owner names and fixed modes, inside a gzip stream with no name
and no time. Packing is guarded by small policies that refuse (never silently skip)
anything dangerous: key material, links, devices, names that would not round-trip.

This module builds packs; `siloos.agent.unpack` owns extracting them (and `unpack` is
re-exported here for callers that packed and unpacked from one place).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from siloos.agent.packformat import DIR_MODE, FILE_MODE, PACK_SUFFIX, Verdict, require_policies
from siloos.agent.unpack import unpack as unpack  # re-exported for existing callers
from siloos.errors import CheckFailed, InputError, UsageError
from siloos.exits import Registry
from siloos.workspace import Workspace

#: Left out of a pack, never refused: build residue and editor/OS clutter.
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")

KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore")
KEY_NAMES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "vault.key",
                       "token.secret"})
PRIVATE_KEY_BLOCK = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


# ---------------------------------------------------------------- source policies


@dataclass(frozen=True)
class SourceEntry:
    """One path inside the agent folder being packed."""

    path: Path
    rel: PurePosixPath
    st: os.stat_result


class SourcePolicy(Protocol):
    """A check every file and folder must pass before it goes into a pack."""

    def verify(self, entry: SourceEntry) -> Verdict: ...


class NoLinks:
    """Refuse symbolic links: a link could point the pack (or the cell) outside the agent."""

    def verify(self, entry: SourceEntry) -> Verdict:
        if stat.S_ISLNK(entry.st.st_mode):
            return Verdict.failure(f"{entry.rel} is a symbolic link; packs hold only "
                                   "regular files and folders")
        return Verdict.success()


class RegularOnly:
    """Refuse devices, FIFOs and sockets."""

    def verify(self, entry: SourceEntry) -> Verdict:
        if stat.S_ISREG(entry.st.st_mode) or stat.S_ISDIR(entry.st.st_mode) \
                or stat.S_ISLNK(entry.st.st_mode):
            return Verdict.success()
        return Verdict.failure(f"{entry.rel} is not a regular file or folder")


class NoKeyMaterial:
    """Refuse private keys: a pack is shipped and read by cells, keys stay in `.silo/keys/`."""

    def verify(self, entry: SourceEntry) -> Verdict:
        if not stat.S_ISREG(entry.st.st_mode):
            return Verdict.success()
        name = entry.rel.name.lower()
        if name.endswith(KEY_SUFFIXES) or name in KEY_NAMES:
            return Verdict.failure(f"{entry.rel} looks like key material (by its name); "
                                   "keys never go into a pack")
        try:
            data = entry.path.read_bytes()
        except OSError as err:
            return Verdict.failure(f"{entry.rel} cannot be read: {err.strerror}")
        if PRIVATE_KEY_BLOCK.search(data):
            return Verdict.failure(f"{entry.rel} contains a PEM private key block; "
                                   "keys never go into a pack")
        return Verdict.success()


class PortableName:
    """Refuse names an unpack would refuse or a filesystem might mangle.

    Packs must round-trip: a name with a backslash, a control character or bytes that are
    not UTF-8 would make a pack that `unpack` (rightly) rejects.
    """

    def verify(self, entry: SourceEntry) -> Verdict:
        name = entry.rel.name
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return Verdict.failure(f"{str(entry.rel)!a} has a name that is not valid UTF-8")
        if "\\" in name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            return Verdict.failure(f"{entry.rel!r} has a backslash or control character "
                                   "in its name")
        return Verdict.success()


DEFAULT_SOURCE_POLICIES: tuple[SourcePolicy, ...] = (
    PortableName(), NoLinks(), RegularOnly(), NoKeyMaterial())


# ---------------------------------------------------------------- packing


@dataclass(frozen=True)
class PackResult:
    """Where a pack was written and the sha256 of its bytes."""

    path: Path
    sha256: str


def collect(agent_dir: Path,
            policies: Sequence[SourcePolicy] = DEFAULT_SOURCE_POLICIES) -> list[SourceEntry]:
    """The entries that go into a pack, sorted; raises CheckFailed on the first refusal."""
    require_policies(policies)
    agent_dir = Path(agent_dir)
    entries: list[SourceEntry] = []

    def walk(folder: Path, rel: PurePosixPath) -> None:
        try:
            names = sorted(os.listdir(folder))
        except OSError as err:
            raise InputError(f"cannot list folder: {err.strerror}", path=folder) from None
        for name in names:
            path = folder / name
            if name.startswith(".") or name in SKIPPED_DIRS or name.endswith(SKIPPED_SUFFIXES):
                continue
            try:
                entry = SourceEntry(path=path, rel=rel / name, st=os.lstat(path))
            except OSError as err:
                raise InputError(f"cannot read: {err.strerror}", path=path) from None
            for policy in policies:
                verdict = policy.verify(entry)
                if not verdict.ok:
                    raise CheckFailed(f"refusing to pack {agent_dir}: {verdict.reason}")
            entries.append(entry)
            if stat.S_ISDIR(entry.st.st_mode):
                walk(path, entry.rel)

    walk(agent_dir, PurePosixPath())
    return sorted(entries, key=lambda e: e.rel.parts)


def build_pack(agent_dir: Path, top: str, entries: Iterable[SourceEntry]) -> bytes:
    """The reproducible tar.gz bytes of `entries`, each under the folder `top/`."""
    raw = io.BytesIO()
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(top + "/", is_dir=True, size=0))
        for entry in entries:
            name = f"{top}/{entry.rel.as_posix()}"
            if stat.S_ISDIR(entry.st.st_mode):
                tar.addfile(_info(name + "/", is_dir=True, size=0))
                continue
            try:
                data = entry.path.read_bytes()
            except OSError as err:
                raise InputError(f"cannot read: {err.strerror}", path=entry.path) from None
            tar.addfile(_info(name, is_dir=False, size=len(data)), io.BytesIO(data))
    # filename="" and mtime=0 keep the gzip header free of anything that varies per run.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(tar_buf.getvalue())
    return raw.getvalue()


def _info(name: str, *, is_dir: bool, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = DIR_MODE if is_dir else FILE_MODE
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


@dataclass(frozen=True)
class AgentContext:
    """The workspace around an agent folder (if any) and the exits it may grant."""

    registry: Registry
    root: Path

    @classmethod
    def around(cls, agent_dir: Path) -> AgentContext:
        try:
            ws: Workspace | None = Workspace.find(agent_dir)
        except UsageError:
            ws = None  # a lone agent folder: built-in exits only (fail closed)
        root = ws.root if ws is not None else Path(agent_dir).resolve().parent
        return cls(registry=Registry.for_workspace(ws), root=root)


def pack_bytes(agent_dir: Path, registry: Registry | None = None) -> tuple[str, str, bytes]:
    """(name, version, pack bytes) of an agent folder, without lint (file policies apply)."""
    agent_dir = Path(agent_dir)
    if not (agent_dir / "AGENT.md").is_file():
        raise UsageError(f"{agent_dir} is not an agent folder (no AGENT.md)")
    from siloos.agent.loader import load_agent

    if registry is None:
        registry = AgentContext.around(agent_dir).registry
    agent = load_agent(agent_dir, registry)
    name, version = agent.name, agent.version
    return name, version, build_pack(agent_dir, name, collect(agent_dir))


def agent_digest(agent_dir: Path, registry: Registry | None = None) -> str:
    """sha256 (hex) of the bytes `pack_agent` would write: the agent version's identity."""
    return hashlib.sha256(pack_bytes(Path(agent_dir), registry)[2]).hexdigest()


def lint_gate(agent_dir: Path, context: AgentContext) -> None:
    """Refuse to pack an agent whose lint has any error-severity finding."""
    from siloos.agent.lint import lint_paths

    findings = lint_paths([Path(agent_dir)], registry=context.registry, strict=False,
                          workspace_root=context.root)
    errors = [f for f in findings if str(getattr(f, "severity", "")).lower() == "error"]
    if errors:
        raise CheckFailed(f"refusing to pack {agent_dir}: {len(errors)} lint error(s), first: "
                          f"{_finding_line(errors[0])} (run `silo lint {agent_dir}`)")


def _finding_line(finding: object) -> str:
    path, line = getattr(finding, "path", "?"), getattr(finding, "line", 0)
    return f"{path}:{line}: {getattr(finding, 'rule', '')} {getattr(finding, 'message', finding)}"


def pack_agent(agent_dir: Path, out_dir: Path) -> PackResult:
    """Lint-gate, then write `out_dir/NAME-VERSION.silo`; returns its path and sha256."""
    agent_dir = Path(agent_dir)
    if not agent_dir.is_dir():
        raise UsageError(f"{agent_dir} is not a folder")
    context = AgentContext.around(agent_dir)
    lint_gate(agent_dir, context)
    name, version, data = pack_bytes(agent_dir, context.registry)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{version}{PACK_SUFFIX}"
    # Write beside the target and rename, so a reader never sees half a pack.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {err.strerror}") from None
    return PackResult(path=target, sha256=hashlib.sha256(data).hexdigest())
