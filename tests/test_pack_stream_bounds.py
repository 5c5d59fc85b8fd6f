"""`unpack` reads the raw tar stream itself: every header and the whole stream are bounded
before anything is held in memory (review finding 9), and tar features packs never use are
refused with one clear line instead of being interpreted."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

import siloos.agent.unpack as pack_mod
from siloos.agent.pack import pack_agent
from siloos.agent.scaffold import new_agent
from siloos.agent.unpack import MAX_EXTENDED_HEADER_BYTES, unpack
from siloos.errors import InputError
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace

BLOCK = 512
END = b"\0" * (2 * BLOCK)


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE, *,
           fmt: int = tarfile.USTAR_FORMAT, linkname: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.linkname = linkname
    return info.tobuf(format=fmt)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def pax(records: dict[str, str]) -> bytes:
    """pax records exactly as POSIX spells them: "LEN key=value\\n", LEN counting itself."""
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def extended(kind: bytes, data: bytes) -> bytes:
    return header("agent-x/././@Extended", len(data), kind) + padded(data)


def member(name: str, data: bytes) -> bytes:
    return header(name, len(data)) + padded(data)


def folder(name: str) -> bytes:
    return header(name, 0, tarfile.DIRTYPE)


def dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def write(path: Path, *chunks: bytes) -> Path:
    path.write_bytes(gzip.compress(b"".join(chunks)))
    return path


def refused(pack: Path, dest: Path, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as caught:
        unpack(pack, dest)
    assert "\n" not in str(caught.value)
    assert not dest.exists()
    return caught.value


def with_base256_size(block: bytes, size: int) -> bytes:
    """A header whose size field is GNU base-256 (how tar writes sizes over 8 GiB)."""
    raw = bytearray(block)
    raw[124:136] = b"\x80" + size.to_bytes(11, "big")
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw)
    return bytes(raw)


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    init_workspace(tmp_path / "ws")
    return Workspace.load(tmp_path / "ws")


# ------------------------------------------------------------ the bomb, every header kind


@pytest.mark.parametrize("kind, label", [
    (tarfile.XHDTYPE, "pax"), (tarfile.XGLTYPE, "global pax"),
    (tarfile.GNUTYPE_LONGNAME, "GNU long-name"), (tarfile.GNUTYPE_LONGLINK, "GNU long-link"),
])
def test_oversized_extended_headers_are_refused_without_reading_them(
        tmp_path: Path, kind: bytes, label: str) -> None:
    declared = 32 * 1024 * 1024
    pack = tmp_path / "bomb.silo"
    with gzip.open(pack, "wb", compresslevel=1) as gz:
        gz.write(header("agent-x/@Header", declared, kind))
        zeros = b"\0" * (1024 * 1024)
        for _ in range(declared // len(zeros)):
            gz.write(zeros)
        gz.write(folder("agent-x") + member("agent-x/AGENT.md", b"x") + END)
    tracemalloc.start()
    try:
        err = refused(pack, tmp_path / "dest", f"a {label} header of {declared} bytes is over")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err).startswith(f"{pack}: refusing to unpack:")
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


def test_extended_header_at_the_limit_is_read(tmp_path: Path) -> None:
    # A pax header of exactly the limit (one long ignored comment) is still a valid pack.
    filler = "c" * (MAX_EXTENDED_HEADER_BYTES - 100)
    records = pax({"comment": filler})
    records += b"\0" * (MAX_EXTENDED_HEADER_BYTES - len(records))
    pack = write(tmp_path / "ok.silo", folder("agent-x"), extended(tarfile.XHDTYPE, records),
                 member("agent-x/AGENT.md", b"hello"), END)
    agent = unpack(pack, tmp_path / "dest")
    assert (agent / "AGENT.md").read_bytes() == b"hello"


def test_base256_sizes_are_bounded_too(tmp_path: Path) -> None:
    huge = 2 ** 60
    bomb = with_base256_size(header("agent-x/@Header", 0, tarfile.XHDTYPE), huge)
    refused(write(tmp_path / "a.silo", folder("agent-x"), bomb, END), tmp_path / "d1",
            f"a pax header of {huge} bytes")
    file_bomb = with_base256_size(header("agent-x/AGENT.md", 0), huge)
    refused(write(tmp_path / "b.silo", folder("agent-x"), file_bomb, END), tmp_path / "d2",
            "too large")


def test_pax_size_override_cannot_exceed_the_cap(tmp_path: Path) -> None:
    pack = write(tmp_path / "big.silo", folder("agent-x"),
                 extended(tarfile.XHDTYPE, pax({"size": str(10 ** 15)})),
                 header("agent-x/AGENT.md", 0), END)
    refused(pack, tmp_path / "dest", "too large")


def test_the_decompressed_stream_is_capped(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Zero padding after the end marker still counts: a gzip of zeros is the classic bomb.
    monkeypatch.setattr(pack_mod, "MAX_TOTAL_BYTES", 4096)
    monkeypatch.setattr(pack_mod, "STREAM_OVERHEAD_BYTES", 64 * 1024)
    pack = write(tmp_path / "zeros.silo", folder("agent-x"), member("agent-x/AGENT.md", b"x"),
                 END, b"\0" * (1024 * 1024))
    refused(pack, tmp_path / "dest", "too large")


def test_too_many_extended_headers_before_one_member(tmp_path: Path) -> None:
    chain = [extended(tarfile.XHDTYPE, pax({"comment": str(i)})) for i in range(5)]
    pack = write(tmp_path / "chain.silo", folder("agent-x"), *chain,
                 member("agent-x/AGENT.md", b"x"), END)
    refused(pack, tmp_path / "dest", "more than 4 extended headers")


# ------------------------------------------------------------ what real packs use still works


def test_long_and_non_ascii_names_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    new_agent(workspace.agents_dir, "long-names", limits=workspace.config.limits)
    src = workspace.agents_dir / "long-names"
    deep = src / "examples" / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / ("f" * 90 + ".md")).write_text("deep\n")
    (src / "examples" / "café-naïve.md").write_text("accents\n")
    result = pack_agent(src, tmp_path / "out")
    with tarfile.open(result.path) as tar:  # the pack really uses pax headers for these
        assert any(m.pax_headers.get("path") for m in tar.getmembers())
    agent = unpack(result.path, tmp_path / "dest")
    copied = agent.joinpath(*deep.relative_to(src).parts, "f" * 90 + ".md")
    assert copied.read_text() == "deep\n"
    assert (agent / "examples" / "café-naïve.md").read_text() == "accents\n"
    assert pack_agent(agent, tmp_path / "again").sha256 == result.sha256


def test_gnu_long_names_unpack(tmp_path: Path) -> None:
    buf = io.BytesIO()
    long_name = "agent-x/" + "n" * 150 + ".md"
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(dir_info("agent-x/"))
        info = tarfile.TarInfo(long_name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"gnu!"))
    pack = write(tmp_path / "gnu.silo", buf.getvalue())
    agent = unpack(pack, tmp_path / "dest")
    assert (agent / ("n" * 150 + ".md")).read_bytes() == b"gnu!"


def test_gnu_long_link_is_still_a_refused_link(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(dir_info("agent-x/"))
        info = tarfile.TarInfo("agent-x/leak")
        info.type = tarfile.SYMTYPE
        info.linkname = "/" + "x" * 200
        tar.addfile(info)
    refused(write(tmp_path / "link.silo", buf.getvalue()), tmp_path / "dest", "link")


def test_pax_path_and_size_apply_to_the_next_member(tmp_path: Path) -> None:
    # The reader follows pax semantics, so it stays in step with the stream: the ustar
    # fields say an empty file named "ignored", the pax record says 5 bytes named "real.md".
    pack = write(tmp_path / "pax.silo", folder("agent-x"),
                 extended(tarfile.XHDTYPE, pax({"path": "agent-x/real.md", "size": "5"})),
                 header("agent-x/ignored", 0) + padded(b"12345"),
                 member("agent-x/AGENT.md", b"after"), END)
    agent = unpack(pack, tmp_path / "dest")
    assert sorted(p.name for p in agent.iterdir()) == ["AGENT.md", "real.md"]
    assert (agent / "real.md").read_bytes() == b"12345"
    assert (agent / "AGENT.md").read_bytes() == b"after"


def test_pax_path_is_checked_by_the_member_policies(tmp_path: Path) -> None:
    pack = write(tmp_path / "evil.silo", folder("agent-x"),
                 extended(tarfile.XHDTYPE, pax({"path": "agent-x/../../evil.py"})),
                 member("agent-x/harmless.md", b"x"), END)
    refused(pack, tmp_path / "dest", "escapes")
    assert not (tmp_path / "evil.py").exists()


def test_global_header_with_only_a_comment_is_ignored(tmp_path: Path) -> None:
    # `git archive` writes one of these (the commit id) in front of everything.
    pack = write(tmp_path / "git.silo", extended(tarfile.XGLTYPE, pax({"comment": "a" * 40})),
                 folder("agent-x"), member("agent-x/AGENT.md", b"x"), END)
    assert (unpack(pack, tmp_path / "dest") / "AGENT.md").read_bytes() == b"x"


def test_global_header_that_renames_members_is_refused(tmp_path: Path) -> None:
    pack = write(tmp_path / "g.silo", extended(tarfile.XGLTYPE, pax({"path": "agent-x/x"})),
                 folder("agent-x"), member("agent-x/AGENT.md", b"x"), END)
    refused(pack, tmp_path / "dest", "global pax header")


# ------------------------------------------------------------ malformed streams


def test_bad_checksum_is_refused(tmp_path: Path) -> None:
    block = bytearray(member("agent-x/AGENT.md", b"x"))
    block[0:7] = b"agent-y"  # the name changed after the checksum was computed
    refused(write(tmp_path / "sum.silo", folder("agent-x"), bytes(block), END),
            tmp_path / "dest", "bad checksum")


def test_not_a_ustar_header_is_refused(tmp_path: Path) -> None:
    refused(write(tmp_path / "v7.silo", b"\x01" * BLOCK, END), tmp_path / "dest",
            "not a ustar header")


@pytest.mark.parametrize("tail, why", [
    (b"", "truncated"),                                        # no end marker
    (header("agent-x/b.md", 4000) + b"short", "truncated"),  # data cut off
])
def test_truncated_streams_are_refused(tmp_path: Path, tail: bytes, why: str) -> None:
    pack = write(tmp_path / "cut.silo", folder("agent-x"), member("agent-x/AGENT.md", b"x"),
                 tail)
    refused(pack, tmp_path / "dest", why)


def test_data_after_the_end_marker_is_refused(tmp_path: Path) -> None:
    pack = write(tmp_path / "tail.silo", folder("agent-x"), member("agent-x/AGENT.md", b"x"),
                 END, member("agent-x/hidden.py", b"import os"))
    refused(pack, tmp_path / "dest", "data follows the end-of-archive marker")


def test_corrupt_gzip_trailer_is_refused(tmp_path: Path) -> None:
    raw = bytearray(gzip.compress(folder("agent-x") + member("agent-x/AGENT.md", b"x") + END))
    raw[-8] ^= 0xFF  # the CRC32 of the decompressed data
    bad = tmp_path / "crc.silo"
    bad.write_bytes(bytes(raw))
    refused(bad, tmp_path / "dest", "not a valid pack")


def test_extended_header_without_a_member_is_refused(tmp_path: Path) -> None:
    pack = write(tmp_path / "dangling.silo", folder("agent-x"),
                 extended(tarfile.XHDTYPE, pax({"path": "agent-x/a.md"})), END)
    refused(pack, tmp_path / "dest", "not followed by a member")


@pytest.mark.parametrize("records, why", [
    (b"99 path=agent-x/a.md\n", "malformed record"),     # length runs past the header
    (b"12 path=abc\n7 size\n", "malformed record"),     # no "="
    (b"xx path=a\n", "malformed record"),
    (b"11 size=-1\n", "malformed size"),
    (pax({"path": "agent-x/a.md"}) + b"\0junk", "data after its records"),
    (pax({"path": "agent-x/a", "size": "1"}).replace(b"size", b"path"), "repeats"),
])
def test_malformed_pax_records_are_refused(tmp_path: Path, records: bytes, why: str) -> None:
    pack = write(tmp_path / "pax.silo", folder("agent-x"), extended(tarfile.XHDTYPE, records),
                 member("agent-x/AGENT.md", b"x"), END)
    refused(pack, tmp_path / "dest", why)


def test_two_long_names_for_one_member_are_refused(tmp_path: Path) -> None:
    pack = write(tmp_path / "two.silo", folder("agent-x"),
                 extended(tarfile.XHDTYPE, pax({"path": "agent-x/a.md"})),
                 extended(tarfile.GNUTYPE_LONGNAME, b"agent-x/b.md\0"),
                 member("agent-x/AGENT.md", b"x"), END)
    refused(pack, tmp_path / "dest", "two extended headers set the name")


@pytest.mark.parametrize("chunks, why", [
    ([header("agent-x/s.md", 0, tarfile.GNUTYPE_SPARSE)], "packs never use"),
    ([header("agent-x/c", 0, b"V")], "packs never use"),
    ([extended(tarfile.XHDTYPE, pax({"GNU.sparse.size": "10"})), member("agent-x/a", b"x")],
     "sparse"),
    ([extended(tarfile.XHDTYPE, pax({"hdrcharset": "BINARY"})), member("agent-x/a", b"x")],
     "not UTF-8"),
    ([extended(tarfile.GNUTYPE_LONGNAME, b"agent-x/caf\xe9.md\0"), member("agent-x/a", b"x")],
     "not valid UTF-8"),
    ([header("agent-x/d/", 0, tarfile.DIRTYPE)[:124] + b"x" * 12
      + header("agent-x/d/", 0, tarfile.DIRTYPE)[136:]], "bad checksum|malformed size"),
])
def test_tar_features_packs_never_use_are_refused(tmp_path: Path, chunks: list[bytes],
                                                  why: str) -> None:
    pack = write(tmp_path / "odd.silo", folder("agent-x"), *chunks, END)
    refused(pack, tmp_path / "dest", why)


def test_folder_claiming_data_is_refused(tmp_path: Path) -> None:
    pack = write(tmp_path / "dir.silo", header("agent-x/", 3, tarfile.DIRTYPE), END)
    refused(pack, tmp_path / "dest", "claims 3 bytes")
