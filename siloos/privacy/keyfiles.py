"""The vault's two secrets on disk: `vault.key` (AES-GCM) and `token.secret` (HMAC).

Both live in `.silo/keys/` (directory 0700, files 0600) and are created once by `silo init`.
Creating them again is refused: overwriting would orphan every value already in the vault.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from siloos.errors import SiloError, UsageError

VAULT_KEY_FILE = "vault.key"
TOKEN_SECRET_FILE = "token.secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32


def _write_secret(path: Path, data: bytes) -> None:
    """Create `path` 0600 with `data`; O_EXCL so an existing file is never replaced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask must not widen or narrow what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_vault_keys(keys_dir: Path) -> None:
    """Write fresh `vault.key` and `token.secret` (32 random bytes each) into `keys_dir`.

    The directory is created 0700 if missing. Refuses (UsageError) if either file exists.
    """
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    targets = [keys_dir / VAULT_KEY_FILE, keys_dir / TOKEN_SECRET_FILE]
    existing = [p.name for p in targets if p.exists() or p.is_symlink()]
    if existing:
        raise UsageError(
            f"{keys_dir}: refusing to overwrite existing vault keys ({', '.join(existing)})"
        )
    for path in targets:
        _write_secret(path, secrets.token_bytes(SECRET_BYTES))


def read_secret(path: Path) -> bytes:
    """Read one 32-byte secret, failing closed if it is missing, the wrong size or group/world
    readable (a leaked vault key exposes every customer's data)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SiloError(f"{path}: vault key missing (run `silo init`)") from None
    if not stat.S_ISREG(st.st_mode):
        raise SiloError(f"{path}: vault key is not a regular file")
    if st.st_mode & 0o077:
        raise SiloError(f"{path}: vault key must be mode 0600, is {stat.S_IMODE(st.st_mode):o}")
    data = path.read_bytes()
    if len(data) != SECRET_BYTES:
        raise SiloError(f"{path}: vault key has {len(data)} bytes, expected {SECRET_BYTES}")
    return data
