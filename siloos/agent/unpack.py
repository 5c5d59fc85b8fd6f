"""Safe extraction of untrusted agent packs (`NAME-VERSION.silo`) into a folder.

A pack may come from anywhere (`silo run PACK`), so nothing in it is trusted: every member
passes small policies (no absolute paths, no `..`, only regular files and folders under one
agent-named top folder) before anything is written, the member count and file bytes are
capped, and the decompressed stream itself is bounded, headers included, before any of it
is held in memory. Anything a pack built by `siloos.agent.pack` never contains is refused,
never skipped.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from siloos.agent.packformat import DIR_MODE, FILE_MODE, Verdict, require_policies
from siloos.errors import InputError, UsageError

#: Bounds for unpacking an untrusted pack: an agent is markdown and a little Python.
MAX_MEMBERS = 2_000
MAX_TOTAL_BYTES = 64 * 1024 * 1024


# ---------------------------------------------------------------- member policies


class MemberPolicy(Protocol):
    """A check every member of an untrusted pack must pass before anything is extracted."""

    def verify(self, member: tarfile.TarInfo) -> Verdict: ...


class RelativeInside:
    """Refuse absolute names, `..`, empty parts and backslashes: nothing escapes `dest`."""

    def verify(self, member: tarfile.TarInfo) -> Verdict:
        name = member.name
        if not name or name.startswith("/") or "\\" in name or "\x00" in name:
            return Verdict.failure(f"member {name!r} has an absolute or malformed path")
        parts = name.rstrip("/").split("/")
        if any(p in ("", ".", "..") for p in parts):
            return Verdict.failure(f"member {name!r} escapes the pack folder")
        return Verdict.success()


class FilesAndFoldersOnly:
    """Refuse symlinks, hard links, devices and FIFOs."""

    def verify(self, member: tarfile.TarInfo) -> Verdict:
        if member.isreg() or member.isdir():
            return Verdict.success()
        return Verdict.failure(f"member {member.name!r} is a link or special file")


class SingleTopFolder:
    """All members live under one folder named like an agent (it becomes the agent folder)."""

    def __init__(self) -> None:
        self.top: str | None = None

    def verify(self, member: tarfile.TarInfo) -> Verdict:
        top, _, rest = member.name.partition("/")
        if not member.isdir() and not rest:
            return Verdict.failure(f"member {member.name!r} is a file outside the agent folder")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", top) or len(top) > 64:
            return Verdict.failure(f"member {member.name!r} is not inside an agent folder")
        if self.top is None:
            self.top = top
        elif top != self.top:
            return Verdict.failure(f"pack holds more than one top folder ({self.top}, {top})")
        return Verdict.success()


def _member_policies() -> tuple[MemberPolicy, ...]:
    # SingleTopFolder keeps state, so every unpack gets fresh instances.
    return (RelativeInside(), FilesAndFoldersOnly(), SingleTopFolder())


# ---------------------------------------------------------------- unpacking
#
# Unpacking never hands untrusted bytes to `tarfile`: tarfile reads every pax ('x'/'g') and
# GNU long-name/long-link ('L'/'K') header whole into memory before its caller sees a
# member, so a 200 KB pack could make it allocate hundreds of MiB (review finding 9). Packs
# are simple (folders, regular files, pax headers for long or non-ASCII names), so a small
# strict reader walks the decompressed stream 512-byte block by block and checks every
# length against its cap *before* reading those bytes.

BLOCK = 512
READ_CHUNK = 1024 * 1024
#: The largest pax or GNU long-name header a pack may hold; ours are a few hundred bytes.
MAX_EXTENDED_HEADER_BYTES = 64 * 1024
#: Extended headers allowed in front of one member; a longer chain is refused, not walked.
MAX_EXTENDED_HEADERS_PER_MEMBER = 4
#: Decompressed bytes allowed on top of MAX_TOTAL_BYTES of file data: the headers, padding
#: and end-of-archive blocks of MAX_MEMBERS ordinary members fit many times over.
STREAM_OVERHEAD_BYTES = 16 * 1024 * 1024

POSIX_MAGIC = b"ustar\x0000"
GNU_MAGIC = b"ustar  \x00"
FILE_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
#: Kinds a member policy refuses with a precise reason; they carry no data of their own.
POLICY_REFUSED_TYPES = frozenset({tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE,
                                  tarfile.BLKTYPE, tarfile.FIFOTYPE})
EXTENDED_TYPES = {tarfile.XHDTYPE: "pax", tarfile.XGLTYPE: "global pax",
                  tarfile.GNUTYPE_LONGNAME: "GNU long-name",
                  tarfile.GNUTYPE_LONGLINK: "GNU long-link"}
#: pax records that change the member after them (key -> the field they set); the rest
#: (times, owners, comments) are ignored.
PAX_MEMBER_KEYS = {"path": "name", "linkpath": "linkname", "size": "size"}
PAX_LENGTH = re.compile(rb"([0-9]{1,19}) ")


def unpack(pack_path: Path, dest: Path) -> Path:
    """Safely extract a pack into `dest`; returns the agent folder (`dest/NAME`).

    Every member is checked before anything is written: no absolute paths, no `..`, only
    regular files and folders under one agent-named top folder, bounded count and size,
    and the stream itself bounded (headers included) before any of it is held in memory.
    """
    pack_path, dest = Path(pack_path), Path(dest)
    policies = _member_policies()
    require_policies(policies)
    members = _read_members(pack_path, policies)
    if not members:
        raise InputError("refusing to unpack: the pack is empty", path=pack_path)
    top = members[0][0].name.split("/", 1)[0]
    agent_dir = dest / top
    if agent_dir.exists() or agent_dir.is_symlink():
        raise UsageError(f"{agent_dir} already exists; refusing to overwrite it")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        agent_dir.mkdir(mode=DIR_MODE)
    except OSError as err:
        raise UsageError(f"cannot create {agent_dir}: {err.strerror or err}") from None
    try:
        _extract(dest, members)
    except OSError as err:
        # agent_dir did not exist before this call: removing it loses nothing of the user's.
        shutil.rmtree(agent_dir, ignore_errors=True)
        raise InputError(f"refusing to unpack: {err.strerror or err}", path=pack_path) from None
    return agent_dir


def _extract(dest: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    for member, data in members:
        target = dest.joinpath(*member.name.rstrip("/").split("/"))
        if member.isdir():
            target.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            continue
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # O_EXCL + O_NOFOLLOW: a duplicate member cannot overwrite or follow anything.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data or b"")


def _read_members(pack_path: Path, policies: Sequence[MemberPolicy],
                  ) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """All members with their data, each checked by `policies` before its data is read."""
    try:
        with open(pack_path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            return PackReader(stream, pack_path, policies).members()
    except FileNotFoundError:
        raise UsageError(f"{pack_path}: no such pack") from None
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise InputError(f"not a valid pack: {err}", path=pack_path) from None


@dataclass(frozen=True)
class RawHeader:
    """The fields of one 512-byte tar header that unpacking uses, checksum verified."""

    kind: bytes
    name: bytes
    linkname: bytes
    size: int


@dataclass
class PendingFields:
    """What extended headers said about the member that follows them."""

    count: int = 0
    name: str | None = None
    linkname: str | None = None
    size: int | None = None


class PackReader:
    """Reads the members of one decompressed pack stream under hard bounds.

    Each length (a header's, a file's, the whole stream's) is checked against its cap
    before those bytes are read, so no input makes this hold more than MAX_TOTAL_BYTES of
    file data plus one MAX_EXTENDED_HEADER_BYTES header. Anything a pack never contains
    (sparse files, global name overrides, bad checksums, trailing data) is refused.
    """

    def __init__(self, stream: BinaryIO, pack_path: Path,
                 policies: Sequence[MemberPolicy]) -> None:
        require_policies(policies)
        self.stream = stream
        self.pack_path = pack_path
        self.policies = policies
        # Read the bounds now, not at import: tests (and callers) may lower them.
        self.stream_cap = MAX_TOTAL_BYTES + STREAM_OVERHEAD_BYTES
        self.consumed = 0
        self.file_bytes = 0

    # -- errors: one line each, naming the pack

    def refuse(self, reason: str) -> InputError:
        return InputError(f"refusing to unpack: {reason}", path=self.pack_path)

    def malformed(self, reason: str) -> InputError:
        return InputError(f"not a valid pack: {reason}", path=self.pack_path)

    # -- the stream

    def read_exact(self, size: int, what: str) -> bytes:
        """Exactly `size` decompressed bytes, charged to the stream cap before reading."""
        if size < 0 or self.consumed + size > self.stream_cap:
            raise self.refuse(f"the pack is too large (over {self.stream_cap} bytes "
                              "decompressed)")
        self.consumed += size
        first = self.stream.read(size)
        if len(first) == size:
            return first
        # A short read: collect the rest in bounded chunks until EOF.
        buf = bytearray(first)
        while len(buf) < size:
            chunk = self.stream.read(min(size - len(buf), READ_CHUNK))
            if not chunk:
                raise self.malformed(f"it ends inside {what} (truncated)")
            buf += chunk
        return bytes(buf)

    def drain_end(self) -> None:
        """After the end-of-archive block only zero padding may follow (and the gzip CRC,
        checked on the way, must hold)."""
        while True:
            left = self.stream_cap - self.consumed
            chunk = self.stream.read(min(READ_CHUNK, left + 1))
            if not chunk:
                return
            self.consumed += len(chunk)
            if self.consumed > self.stream_cap:
                raise self.refuse(f"the pack is too large (over {self.stream_cap} bytes "
                                  "decompressed)")
            if chunk.count(0) != len(chunk):
                raise self.malformed("data follows the end-of-archive marker")

    # -- members

    def members(self) -> list[tuple[tarfile.TarInfo, bytes | None]]:
        """Every member in order; raises InputError on the first refusal."""
        out: list[tuple[tarfile.TarInfo, bytes | None]] = []
        pending = PendingFields()
        while True:
            block = self.read_exact(BLOCK, "a member header")
            if block.count(0) == BLOCK:
                if pending.count:
                    raise self.malformed("an extended header is not followed by a member")
                self.drain_end()
                return out
            header = self.parse_header(block)
            if header.kind in EXTENDED_TYPES:
                self.read_extended(header, pending)
                continue
            info = self.member_info(header, pending)
            pending = PendingFields()
            for policy in self.policies:
                verdict = policy.verify(info)
                if not verdict.ok:
                    raise self.refuse(verdict.reason)
            if not (info.isreg() or info.isdir()):  # fail closed whatever the policies said
                raise self.refuse(f"member {info.name!r} is a link or special file")
            if len(out) >= MAX_MEMBERS:
                raise self.refuse("too many members")
            data = None
            if info.isreg():
                self.file_bytes += info.size
                if self.file_bytes > MAX_TOTAL_BYTES:
                    raise self.refuse("the pack is too large")
                data = self.read_exact(info.size, f"member {info.name!r}")
                self.read_exact(-info.size % BLOCK, "padding")
            out.append((info, data))

    def parse_header(self, block: bytes) -> RawHeader:
        magic = block[257:265]
        if magic not in (POSIX_MAGIC, GNU_MAGIC):
            raise self.malformed("a member header is not a ustar header")
        stored = self.number(block[148:156], "checksum")
        unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
        signed = sum(b - 256 if b > 127 else b for b in block[:148]) + 8 * 32 \
            + sum(b - 256 if b > 127 else b for b in block[156:])
        if stored not in (unsigned, signed):
            raise self.malformed("a member header has a bad checksum")
        name = _until_nul(block[0:100])
        prefix = _until_nul(block[345:500])
        # Only POSIX ustar has a name prefix; GNU keeps other fields in those bytes.
        if magic == POSIX_MAGIC and prefix:
            name = prefix + b"/" + name
        return RawHeader(kind=block[156:157], name=name, linkname=_until_nul(block[157:257]),
                         size=self.number(block[124:136], "size"))

    def number(self, field: bytes, what: str) -> int:
        """A numeric header field: octal text, or GNU base-256 (positive only)."""
        if field[:1] == b"\x80":
            return int.from_bytes(field[1:], "big")
        if field[:1] == b"\xff":
            raise self.malformed(f"a member header has a negative {what}")
        text = _until_nul(field).strip(b" ")
        if not re.fullmatch(rb"[0-7]*", text):
            raise self.malformed(f"a member header has a malformed {what} field")
        return int(text or b"0", 8)

    def text(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.refuse(f"a {what} is not valid UTF-8") from None

    def read_extended(self, header: RawHeader, pending: PendingFields) -> None:
        label = EXTENDED_TYPES[header.kind]
        if header.size > MAX_EXTENDED_HEADER_BYTES:
            raise self.refuse(f"a {label} header of {header.size} bytes is over the "
                              f"{MAX_EXTENDED_HEADER_BYTES}-byte limit")
        pending.count += 1
        if pending.count > MAX_EXTENDED_HEADERS_PER_MEMBER:
            raise self.refuse(f"more than {MAX_EXTENDED_HEADERS_PER_MEMBER} extended headers "
                              "in front of one member")
        data = self.read_exact(header.size, f"a {label} header")
        self.read_exact(-header.size % BLOCK, "padding")
        if header.kind == tarfile.GNUTYPE_LONGNAME:
            self.set_once(pending, "name", self.text(_until_nul(data), "long member name"))
        elif header.kind == tarfile.GNUTYPE_LONGLINK:
            self.set_once(pending, "linkname", self.text(_until_nul(data), "long link target"))
        else:
            records = self.pax_records(data)
            if header.kind == tarfile.XGLTYPE and records:
                raise self.refuse("a global pax header changes member names or sizes")
            for key, value in records.items():
                self.set_once(pending, PAX_MEMBER_KEYS[key], value)

    def set_once(self, pending: PendingFields, field: str, value: str | int) -> None:
        # Two headers naming one member would make readers disagree on which one wins.
        if getattr(pending, field) is not None:
            raise self.malformed(f"two extended headers set the {field} of one member")
        if field == "size":
            if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,19}", value):
                raise self.malformed("a pax header has a malformed size")
            value = int(value)
        setattr(pending, field, value)

    def pax_records(self, data: bytes) -> dict[str, str]:
        """The records of a pax header that change the next member ("LEN key=value\\n")."""
        records: dict[str, str] = {}
        pos = 0
        while pos < len(data) and data[pos] != 0:
            match = PAX_LENGTH.match(data, pos)
            if match is None:
                raise self.malformed("a pax header has a malformed record")
            end = pos + int(match.group(1))
            if end <= match.end() or end > len(data) or data[end - 1] != 0x0A:
                raise self.malformed("a pax header has a malformed record")
            key, sep, value = data[match.end():end - 1].partition(b"=")
            if not sep or not key:
                raise self.malformed("a pax header has a malformed record")
            name = self.text(key, "pax record key")
            if name.startswith("GNU.sparse."):
                raise self.refuse("the pack holds a sparse file")
            if name == "hdrcharset" and value != b"ISO-IR 10646 2000 UTF-8":
                raise self.refuse("a pax header declares names that are not UTF-8")
            if name in PAX_MEMBER_KEYS:
                if name in records:
                    raise self.malformed(f"a pax header repeats {name!r}")
                records[name] = self.text(value, f"pax {name}")
            pos = end
        if data[pos:].count(0) != len(data) - pos:
            raise self.malformed("a pax header has data after its records")
        return records

    def member_info(self, header: RawHeader, pending: PendingFields) -> tarfile.TarInfo:
        name = pending.name if pending.name is not None \
            else self.text(header.name, "member name")
        linkname = pending.linkname if pending.linkname is not None \
            else self.text(header.linkname, "link target")
        size = pending.size if pending.size is not None else header.size
        kind = header.kind
        if kind in FILE_TYPES:
            # Old tars mark a folder as a typeless file whose name ends with "/".
            is_dir = kind == tarfile.AREGTYPE and name.endswith("/")
            kind = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        elif kind not in POLICY_REFUSED_TYPES and kind != tarfile.DIRTYPE:
            raise self.refuse(f"member {name!r} has tar type {kind!r}, which packs never use")
        info = tarfile.TarInfo(name.rstrip("/") if kind == tarfile.DIRTYPE else name)
        info.type = kind
        info.linkname = linkname
        if kind == tarfile.DIRTYPE and size:
            raise self.malformed(f"folder member {name!r} claims {size} bytes of data")
        info.size = size if kind == tarfile.REGTYPE else 0
        info.mode = DIR_MODE if kind == tarfile.DIRTYPE else FILE_MODE
        return info


def _until_nul(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]
