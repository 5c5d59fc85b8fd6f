"""Creating a workspace (design §3): its folders, `silo.toml`, and the keys in `.silo/keys/`.

The workspace's secrets live in `.silo/keys/` (folder 0700, files 0600). They are made in a
private staging folder and moved into place before `silo.toml` is written, so an init that
fails part-way leaves no half-made workspace behind and never touches existing files.
`silo init` (`siloos.cli.init`) is one caller; the demo, the bench and tests are others.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from siloos.agent.scaffold import Renderer, write_new
from siloos.errors import UsageError
from siloos.workspace import CONFIG_NAME, DEFAULT_LIMITS, WorkspaceConfig

#: Folders every workspace has (design §3); `.silo/` is made separately, privately.
PUBLIC_FOLDERS = ("agents", "procedures", "workflows", "recordings", "exits")
STATE_DIR = ".silo"
IGNORE_LINE = ".silo/"


@dataclass(frozen=True)
class InitResult:
    """What `init_workspace` made."""

    root: Path
    made: tuple[Path, ...]


def init_workspace(root: Path, *, name: str | None = None,
                   renderer: Renderer | None = None) -> InitResult:
    """Create a workspace in `root` (made if missing); refuses an existing workspace."""
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    for marker in (CONFIG_NAME, STATE_DIR):
        if (root / marker).exists() or (root / marker).is_symlink():
            hint = ""
            if marker == CONFIG_NAME and not (root / STATE_DIR).exists():
                hint = "; for a cloned workspace, `silo init --state` creates only .silo/"
            raise UsageError(f"{root} is already a SiloOS workspace ({marker} exists); "
                             f"refusing to overwrite it{hint}")
    renderer = renderer or Renderer()
    ws_name = name or _default_name(root)
    config_text = renderer.render("workspace/silo.toml.j2",
                                  {"name": ws_name, "limits": DEFAULT_LIMITS})
    # Fail before creating anything if our own template would not parse.
    WorkspaceConfig.parse(config_text, path=root / CONFIG_NAME)

    made: list[Path] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for folder in PUBLIC_FOLDERS:
            path = root / folder
            if not path.is_dir():
                path.mkdir()
                made.append(path)
        state = _make_state_dir(root)
    except OSError as err:
        raise UsageError(f"cannot create the workspace in {root}: "
                         f"{err.strerror or err}") from None
    made += [state, state / "keys", *sorted((state / "keys").iterdir())]
    try:
        write_new(root / CONFIG_NAME, config_text)
    except BaseException:
        shutil.rmtree(state, ignore_errors=True)
        raise
    made.insert(0, root / CONFIG_NAME)
    gitignore = _ensure_gitignored(root, renderer)
    if gitignore is not None:
        made.append(gitignore)
    return InitResult(root=root, made=tuple(made))


def _default_name(root: Path) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    return cleaned or "workspace"


def _make_state_dir(root: Path) -> Path:
    """Build `.silo/keys/` privately in a staging folder, then move it into place."""
    from siloos.keys.keyring import create_keyring
    from siloos.privacy.vault import create_vault_keys

    staging = Path(tempfile.mkdtemp(prefix=".silo-init-", dir=root))
    try:
        os.chmod(staging, 0o700)
        keys = staging / "keys"
        keys.mkdir(mode=0o700)
        os.chmod(keys, 0o700)  # mkdir's mode is filtered by the umask; be explicit.
        create_keyring(keys)
        create_vault_keys(keys)
        _lock_down(keys)
        target = root / STATE_DIR
        os.rename(staging, target)  # atomic; fails if someone made .silo meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _lock_down(keys: Path) -> None:
    """Every key file 0600, the folder 0700; refuse anything that is not a plain file."""
    for entry in keys.iterdir():
        if entry.is_symlink() or not entry.is_file():
            raise UsageError(f"unexpected entry in the key folder: {entry.name}")
        os.chmod(entry, 0o600)
    os.chmod(keys, 0o700)
    if not list(keys.iterdir()):
        raise UsageError("key generation produced no key files")


def _ensure_gitignored(root: Path, renderer: Renderer) -> Path | None:
    """Make `.gitignore` ignore `.silo/`, appending to an existing file rather than replacing."""
    path = root / ".gitignore"
    if not path.exists():
        write_new(path, renderer.render("workspace/gitignore.j2", {}))
        return path
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = {line.strip() for line in text.splitlines()}
    if lines & {".silo", ".silo/", "/.silo", "/.silo/"}:
        return None
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("" if text.endswith("\n") or not text else "\n") + IGNORE_LINE + "\n")
    return path


def init_state(root: Path) -> InitResult:
    """Create only `.silo/` (keys included) for an existing workspace, e.g. a fresh clone.

    Agents and config are versioned; keys and state never are, so a clone needs its own.
    """
    root = Path(root).expanduser().resolve()
    cfg = root / CONFIG_NAME
    if not cfg.is_file():
        raise UsageError(f"{root} has no {CONFIG_NAME}; run `silo init` to create a workspace")
    WorkspaceConfig.parse(cfg.read_text(encoding="utf-8", errors="replace"), path=cfg)
    if (root / STATE_DIR).exists() or (root / STATE_DIR).is_symlink():
        raise UsageError(f"{root / STATE_DIR} already exists; refusing to overwrite its keys")
    try:
        state = _make_state_dir(root)
    except OSError as err:
        raise UsageError(f"cannot create {root / STATE_DIR}: {err.strerror or err}") from None
    return InitResult(root=root, made=(state, state / "keys",
                                       *sorted((state / "keys").iterdir())))
