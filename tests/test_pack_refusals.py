"""`silo pack` refuses lint errors, key material, links and special files, and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siloos.agent.pack import agent_digest, pack_agent
from siloos.agent.scaffold import new_agent
from siloos.cli.app import main
from siloos.errors import CheckFailed, UsageError
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace

PEM = ("-----BEGIN PRIVATE KEY-----\n"
       "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
       "-----END PRIVATE KEY-----\n")


@pytest.fixture()
def agent(tmp_path: Path) -> Path:
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    new_agent(ws.agents_dir, "pack-me", limits=ws.config.limits)
    return ws.agents_dir / "pack-me"


def refused(agent: Path, out: Path, match: str) -> None:
    with pytest.raises(CheckFailed, match=match):
        pack_agent(agent, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_lint_errors_are_refused(agent: Path, tmp_path: Path) -> None:
    manifest = agent / "AGENT.md"
    manifest.write_text(manifest.read_text().replace("llm: {}", "teleport.now: {}"))
    refused(agent, tmp_path / "out", "lint error")


def test_lint_refusal_exit_code_is_1(agent: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    manifest = agent / "AGENT.md"
    manifest.write_text(manifest.read_text().replace("llm: {}", "teleport.now: {}"))
    with pytest.raises(SystemExit) as done:
        main(["pack", str(agent), "-o", str(tmp_path / "out")])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to pack" in err


@pytest.mark.parametrize("name", ["notes.md", "deploy.txt", "policies/secret.md"])
def test_pem_private_key_content_is_refused(agent: Path, tmp_path: Path, name: str) -> None:
    (agent / name).write_text("Keep this safe:\n" + PEM)
    refused(agent, tmp_path / "out", "private key")


@pytest.mark.parametrize("name", ["signing.pem", "server.key", "examples/id_ed25519"])
def test_key_file_names_are_refused(agent: Path, tmp_path: Path, name: str) -> None:
    (agent / name).write_text("not even a key, but named like one")
    refused(agent, tmp_path / "out", "key material")


def test_openssh_private_key_block_is_refused(agent: Path, tmp_path: Path) -> None:
    (agent / "examples" / "oops.md").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n")
    refused(agent, tmp_path / "out", "private key")


def test_public_key_text_is_not_key_material(agent: Path, tmp_path: Path) -> None:
    (agent / "examples" / "about-keys.md").write_text(
        "# About keys\n\nWe never ask for a PRIVATE KEY or a password.\n")
    assert pack_agent(agent, tmp_path / "out").path.is_file()


def test_symlink_inside_the_folder_is_refused(agent: Path, tmp_path: Path) -> None:
    os.symlink("scope.md", agent / "policies" / "alias.md")
    refused(agent, tmp_path / "out", "symbolic link")


def test_symlink_escaping_the_folder_is_refused(agent: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, agent / "examples" / "leak.md")
    refused(agent, tmp_path / "out", "symbolic link")


def test_symlinked_folder_is_refused(agent: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path, agent / "everything")
    refused(agent, tmp_path / "out", "symbolic link")


def test_fifo_is_refused(agent: Path, tmp_path: Path) -> None:
    os.mkfifo(agent / "examples" / "pipe")
    refused(agent, tmp_path / "out", "not a regular file")


def test_digest_applies_the_same_file_policies(agent: Path) -> None:
    (agent / "server.key").write_text("x")
    with pytest.raises(CheckFailed, match="key material"):
        agent_digest(agent)


def test_not_an_agent_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        pack_agent(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as done:
        main(["pack", str(tmp_path / "empty")])
    assert done.value.code in (1, 2)


def test_names_that_would_not_unpack_are_refused(agent: Path, tmp_path: Path) -> None:
    (agent / "examples" / "back\\slash.md").write_text("x")
    refused(agent, tmp_path / "out", "backslash")


def test_non_utf8_names_are_refused(agent: Path, tmp_path: Path) -> None:
    with open(os.path.join(os.fsencode(agent / "examples"), b"caf\xe9.md"), "wb") as fh:
        fh.write(b"x")
    refused(agent, tmp_path / "out", "not valid UTF-8")
