"""`silo init`: layout, modes of the private state, refusal to overwrite, CLI behaviour."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from siloos.cli.app import main
from siloos.errors import UsageError
from siloos.workspace import DEFAULT_LIMITS, Workspace
from siloos.workspace_init import init_workspace


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_the_design_layout(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    result = init_workspace(root)
    assert result.root == root.resolve()
    for folder in ("agents", "procedures", "workflows", "recordings", "exits"):
        assert (root / folder).is_dir(), folder
    assert (root / "silo.toml").is_file()
    assert (root / ".silo" / "keys").is_dir()
    assert ".silo/" in (root / ".gitignore").read_text().splitlines()
    # No staging folder is left behind.
    assert not [p for p in root.iterdir() if p.name.startswith(".silo-init-")]


def test_state_and_keys_are_private(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    state, keys = tmp_path / ".silo", tmp_path / ".silo" / "keys"
    assert mode(state) == 0o700
    assert mode(keys) == 0o700
    files = sorted(keys.iterdir())
    names = [f.name for f in files]
    assert "vault.key" in names and "token.secret" in names
    assert any(n.startswith("signing-") and n.endswith(".pub.pem") for n in names)
    assert any(n.startswith("signing-") and not n.endswith(".pub.pem") for n in names)
    for f in files:
        assert f.is_file() and mode(f) == 0o600, f


def test_signing_key_is_a_loadable_ed25519_keyring(tmp_path: Path) -> None:
    from siloos.keys.keyring import KeyRing

    init_workspace(tmp_path)
    ring = KeyRing.load(tmp_path / ".silo" / "keys")
    assert ring is not None


def test_config_parses_with_documented_defaults(tmp_path: Path) -> None:
    init_workspace(tmp_path / "my-shop")
    ws = Workspace.load(tmp_path / "my-shop")
    assert ws.config.name == "my-shop"
    assert ws.config.service_modules == ()
    assert ws.config.cell.interpreter == "/usr/bin/python3"
    assert ws.config.cell.uid_base > 0 and ws.config.cell.uid_count > 0
    assert ws.config.limits == DEFAULT_LIMITS
    assert ws.config.llm.provider is None
    text = (tmp_path / "my-shop" / "silo.toml").read_text()
    for table in ("[workspace]", "[services]", "[llm]", "[cell]", "[limits]"):
        assert table in text


def test_refuses_existing_workspace_and_keeps_its_keys(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    keys = tmp_path / ".silo" / "keys"
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    config = (tmp_path / "silo.toml").read_text()
    with pytest.raises(UsageError, match="already a SiloOS workspace"):
        init_workspace(tmp_path)
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before
    assert (tmp_path / "silo.toml").read_text() == config


def test_refuses_a_stray_state_folder(tmp_path: Path) -> None:
    (tmp_path / ".silo").mkdir()
    with pytest.raises(UsageError, match=r"\.silo exists"):
        init_workspace(tmp_path)
    assert not (tmp_path / "silo.toml").exists()


def test_existing_gitignore_is_appended_not_replaced(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/")
    init_workspace(tmp_path)
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.silo/\n"


def test_existing_folders_and_files_are_kept(tmp_path: Path) -> None:
    (tmp_path / "agents" / "mine").mkdir(parents=True)
    (tmp_path / "agents" / "mine" / "AGENT.md").write_text("keep me")
    init_workspace(tmp_path)
    assert (tmp_path / "agents" / "mine" / "AGENT.md").read_text() == "keep me"


def test_failed_key_generation_leaves_no_workspace(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import siloos.keys.keyring as keyring

    def broken(keys_dir: Path) -> str:
        (Path(keys_dir) / "signing-half.pub.pem").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(keyring, "create_keyring", broken)
    with pytest.raises(UsageError, match="disk full"):
        init_workspace(tmp_path)
    assert not (tmp_path / "silo.toml").exists()
    assert not (tmp_path / ".silo").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".silo")]


def test_refuses_a_file_as_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        init_workspace(target)


def test_cli_prints_what_it_made_and_refuses_twice(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["init", str(tmp_path / "ws")])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "silo.toml" in out and ".silo/keys/ (mode 0700)" in out and "vault.key" in out
    with pytest.raises(SystemExit) as again:
        main(["init", str(tmp_path / "ws")])
    assert again.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to overwrite" in err


def test_workspace_name_is_quoted_safely(tmp_path: Path) -> None:
    init_workspace(tmp_path, name='Shop "North" \\ #1')
    assert Workspace.load(tmp_path).config.name == 'Shop "North" \\ #1'


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot create the workspace"):
        init_workspace(blocker / "ws")


def test_init_state_gives_a_cloned_workspace_its_own_keys(tmp_path: Path) -> None:
    from siloos.workspace_init import init_state

    (tmp_path / "silo.toml").write_text('[workspace]\nname = "cloned"\n')
    with pytest.raises(UsageError, match="silo init --state"):
        init_workspace(tmp_path)
    result = init_state(tmp_path)
    keys = tmp_path / ".silo" / "keys"
    assert keys.is_dir() and (keys.stat().st_mode & 0o777) == 0o700
    assert any(p.name.startswith("signing-") for p in keys.iterdir())
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in keys.iterdir())
    assert result.root == tmp_path.resolve()
    with pytest.raises(UsageError, match="already exists"):
        init_state(tmp_path)


def test_init_state_needs_a_workspace(tmp_path: Path) -> None:
    from siloos.workspace_init import init_state

    with pytest.raises(UsageError, match=r"no silo\.toml"):
        init_state(tmp_path)
