"""Red-team review: a `.silo` pack as a decompression bomb.

`unpack` bounds the members it keeps (count, total size of regular files), but Python's
`tarfile` reads every pax extended header (and GNU long-name header) whole into memory
while it iterates, before `unpack` sees a member. A pack of about 200 KB whose pax header
declares 160 MiB of (highly compressible) records makes the router allocate all of it; a
few MB of pack exhaust the host. `silo run PACK` unpacks packs received from elsewhere.
"""

from __future__ import annotations

import gzip
import tarfile
import tracemalloc
from pathlib import Path

from siloos.agent.unpack import MAX_TOTAL_BYTES, unpack

PAX_BYTES = 160 * 1024 * 1024
BLOCK = 512


def member_header(name: str, size: int, kind: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def padded(length: int) -> bytes:
    return b"\0" * (-length % BLOCK)


def write_bomb(path: Path) -> None:
    """A gzip'd tar: one huge pax header (a valid `comment` record plus zeros), then a
    tiny AGENT.md, so the archive is otherwise well formed."""
    record = b"30 comment=" + b"a" * 18 + b"\n"
    zeros = b"\0" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=1) as gz:
        gz.write(member_header("bomb/PaxHeader", PAX_BYTES, tarfile.XHDTYPE))
        gz.write(record)
        left = PAX_BYTES - len(record)
        while left:
            n = min(left, len(zeros))
            gz.write(zeros[:n])
            left -= n
        gz.write(padded(PAX_BYTES))
        gz.write(member_header("bomb/AGENT.md", 1, tarfile.REGTYPE) + b"x" + padded(1))
        gz.write(b"\0" * (2 * BLOCK))


def test_pack_headers_cannot_allocate_more_than_the_size_cap(tmp_path: Path) -> None:
    pack = tmp_path / "bomb-1.0.0.silo"
    write_bomb(pack)
    assert pack.stat().st_size < 2 * 1024 * 1024
    tracemalloc.start()
    try:
        try:
            unpack(pack, tmp_path / "out")
        except Exception:  # a refusal is the right answer; the memory is what is judged
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_TOTAL_BYTES + 16 * 1024 * 1024, f"peak {peak // 2**20} MiB"
