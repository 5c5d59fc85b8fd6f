"""`unpack`: a pack round-trips; malicious archives are refused before anything is written."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from siloos.agent.pack import pack_agent
from siloos.agent.scaffold import new_agent
from siloos.agent.unpack import unpack
from siloos.errors import InputError, UsageError
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def reg(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def folder(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, None


def link(name: str, target: str, *, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def test_round_trip(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    new_agent(ws.agents_dir, "round-trip", limits=ws.config.limits)
    src = ws.agents_dir / "round-trip"
    result = pack_agent(src, tmp_path / "out")
    agent_dir = unpack(result.path, tmp_path / "dest")
    assert agent_dir == tmp_path / "dest" / "round-trip"
    original = {p.relative_to(src): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    copied = {p.relative_to(agent_dir): p.read_bytes()
              for p in agent_dir.rglob("*") if p.is_file()}
    assert copied == original
    # Repacking what was unpacked gives the same pack.
    assert pack_agent(agent_dir, tmp_path / "again").sha256 == result.sha256


def test_unpack_refuses_to_overwrite(tmp_path: Path) -> None:
    pack = make_tar(tmp_path / "a.silo", [folder("agent-x"), reg("agent-x/AGENT.md")])
    (tmp_path / "dest" / "agent-x").mkdir(parents=True)
    with pytest.raises(UsageError, match="refusing to overwrite"):
        unpack(pack, tmp_path / "dest")


@pytest.mark.parametrize("members, why", [
    ([folder("agent-x"), reg("agent-x/../../evil.py")], "escapes"),
    ([reg("../evil.py")], "escapes"),
    ([folder("agent-x"), reg("/etc/evil")], "absolute"),
    ([reg("/agent-x/AGENT.md")], "absolute"),
    ([folder("agent-x"), reg("agent-x/./AGENT.md")], "escapes"),
    ([folder("agent-x"), link("agent-x/leak", "/etc/shadow")], "link"),
    ([folder("agent-x"), link("agent-x/up", "../../..")], "link"),
    ([folder("agent-x"), link("agent-x/hard", "/etc/passwd", hard=True)], "link"),
    ([folder("agent-x"), reg("agent-x\\..\\evil")], "malformed"),
    ([folder("agent-x"), folder("agent-y"), reg("agent-y/AGENT.md")], "more than one"),
    ([reg("AGENT.md")], "outside the agent folder"),
    ([folder("Not_An_Agent"), reg("Not_An_Agent/AGENT.md")], "not inside an agent folder"),
    ([], "empty"),
])
def test_malicious_packs_are_refused_before_writing(tmp_path: Path, members: list,
                                                    why: str) -> None:
    pack = make_tar(tmp_path / "evil.silo", members)
    dest = tmp_path / "dest"
    with pytest.raises(InputError, match=why):
        unpack(pack, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.py").exists()


def test_device_member_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("agent-x/null")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    pack = make_tar(tmp_path / "dev.silo", [folder("agent-x"), (info, None)])
    with pytest.raises(InputError, match="special file"):
        unpack(pack, tmp_path / "dest")


def test_duplicate_member_does_not_overwrite(tmp_path: Path) -> None:
    pack = make_tar(tmp_path / "dup.silo", [folder("agent-x"), reg("agent-x/main.py", b"one"),
                                            reg("agent-x/main.py", b"two")])
    with pytest.raises(InputError):
        unpack(pack, tmp_path / "dest")
    assert not (tmp_path / "dest" / "agent-x").exists()


# mtime=0: the same bytes in every xdist worker (a timestamp would differ between workers
# that collect in different seconds, and xdist refuses differing collections).
@pytest.mark.parametrize("content", [b"", b"not a gzip at all",
                                     gzip.compress(b"not a tar" * 50, mtime=0),
                                     b"\x1f\x8b\x08\x00garbage"])
def test_garbage_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.silo"
    bad.write_bytes(content)
    with pytest.raises(InputError):
        unpack(bad, tmp_path / "dest")


def test_missing_pack_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such pack"):
        unpack(tmp_path / "nope.silo", tmp_path / "dest")


def test_oversized_pack_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import siloos.agent.unpack as pack_mod

    monkeypatch.setattr(pack_mod, "MAX_TOTAL_BYTES", 10)
    pack = make_tar(tmp_path / "big.silo", [folder("agent-x"), reg("agent-x/a.md", b"y" * 64)])
    with pytest.raises(InputError, match="too large"):
        unpack(pack, tmp_path / "dest")
