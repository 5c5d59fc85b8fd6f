"""The workspace's Ed25519 signing keyring in `.silo/keys/` (design §6, architecture).

Owns creating and loading the keypair the router signs base and task keys with:
`signing-<kid>.pem` (PKCS8 private key) and `signing-<kid>.pub.pem` (its public key), both
mode 0600 in a 0700 folder. The kid is derived from the public key itself, so a file can
never claim a kid that is not its own; the verifier's fixed kid map comes from here.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from siloos.errors import SiloError

PRIVATE_PREFIX = "signing-"
PUBLIC_SUFFIX = ".pub.pem"
PRIVATE_SUFFIX = ".pem"
#: Hex characters of sha256(raw public key) used as the kid: 64 bits, plenty for a handful
#: of keys per workspace and short enough to read in `silo keys inspect`.
KID_HEX_CHARS = 16
_MAX_KEY_FILE_BYTES = 16 * 1024


class KeyringError(SiloError):
    """The keyring is missing, unsafe (readable by others) or malformed (exit 2)."""

    exit_code = 2


def kid_for(public_key: Ed25519PublicKey) -> str:
    """The key id of a public key: short hex of sha256 over its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KID_HEX_CHARS]


def create_keyring(keys_dir: Path) -> str:
    """Create `keys_dir` (0700) with a fresh Ed25519 signing keypair; return its kid.

    Refuses to run over an existing keyring: replacing the signing key would silently
    invalidate every base key already minted, so that must be a deliberate act.
    """
    keys_dir = Path(keys_dir)
    try:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if keys_dir.is_symlink() or not keys_dir.is_dir():
            raise KeyringError(f"{keys_dir}: not a directory")
        os.chmod(keys_dir, 0o700)
        existing = sorted(p.name for p in keys_dir.glob(f"{PRIVATE_PREFIX}*{PRIVATE_SUFFIX}"))
    except OSError as err:
        raise KeyringError(f"{keys_dir}: cannot prepare keys folder: {err.strerror}") from None
    if existing:
        raise KeyringError(f"{keys_dir}: a signing keyring already exists ({existing[0]}); "
                           "refusing to overwrite it")
    private = Ed25519PrivateKey.generate()
    kid = kid_for(private.public_key())
    private_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    # Public first: a half-written keyring then has no private key and load() says so.
    _write_new(keys_dir / f"{PRIVATE_PREFIX}{kid}{PUBLIC_SUFFIX}", public_pem)
    _write_new(keys_dir / f"{PRIVATE_PREFIX}{kid}{PRIVATE_SUFFIX}", private_pem)
    return kid


def _write_new(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite; O_NOFOLLOW: never write through a planted symlink;
    # mode 0600 from birth so the key is never briefly world-readable.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyringError(f"{path}: already exists; refusing to overwrite it") from None
    except OSError as err:
        raise KeyringError(f"{path}: cannot create: {err.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class KeyRing:
    """The loaded signing key (private, with its kid) and the fixed kid → public key map."""

    kid: str
    signing_key: Ed25519PrivateKey = field(repr=False)
    _public: Mapping[str, Ed25519PublicKey] = field(repr=False)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The fixed kid map the verifier looks kids up in (a copy: callers cannot add)."""
        return dict(self._public)

    @classmethod
    def load(cls, keys_dir: Path) -> KeyRing:
        """Load the keyring, refusing a folder or key file that group/other can read."""
        keys_dir = Path(keys_dir)
        _check_private_mode(keys_dir, want_dir=True)
        try:
            names = sorted(os.listdir(keys_dir))
        except OSError as err:
            raise KeyringError(f"{keys_dir}: cannot list: {err.strerror}") from None
        public_names = [n for n in names
                        if n.startswith(PRIVATE_PREFIX) and n.endswith(PUBLIC_SUFFIX)]
        private_names = [n for n in names if n.startswith(PRIVATE_PREFIX)
                         and n.endswith(PRIVATE_SUFFIX) and not n.endswith(PUBLIC_SUFFIX)]
        if not private_names:
            raise KeyringError(f"{keys_dir}: no signing key (signing-<kid>.pem); "
                               "run `silo init` to create one")
        if len(private_names) > 1:
            # Which key signs must never be a guess.
            raise KeyringError(f"{keys_dir}: more than one signing key: "
                               f"{', '.join(private_names)}")
        public: dict[str, Ed25519PublicKey] = {}
        for name in public_names:
            path = keys_dir / name
            key = _load_public(path)
            kid = kid_for(key)
            if name != f"{PRIVATE_PREFIX}{kid}{PUBLIC_SUFFIX}":
                raise KeyringError(f"{path}: file name does not match its key id {kid}")
            public[kid] = key
        private_path = keys_dir / private_names[0]
        signing = _load_private(private_path)
        kid = kid_for(signing.public_key())
        if private_names[0] != f"{PRIVATE_PREFIX}{kid}{PRIVATE_SUFFIX}":
            raise KeyringError(f"{private_path}: file name does not match its key id {kid}")
        if kid not in public:
            raise KeyringError(f"{keys_dir}: public key {PRIVATE_PREFIX}{kid}{PUBLIC_SUFFIX} "
                               "is missing for the signing key")
        return cls(kid=kid, signing_key=signing, _public=public)


def _check_private_mode(path: Path, *, want_dir: bool) -> os.stat_result:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise KeyringError(f"{path}: not found; run `silo init` to create the keyring") from None
    except OSError as err:
        raise KeyringError(f"{path}: cannot read: {err.strerror}") from None
    kind_ok = stat.S_ISDIR(st.st_mode) if want_dir else stat.S_ISREG(st.st_mode)
    if not kind_ok:
        # A symlink could point anywhere (and hide the real file's mode): refuse it.
        what = "a directory" if want_dir else "a regular file"
        raise KeyringError(f"{path}: must be {what}, not a symlink or other file type")
    if st.st_mode & 0o077:
        want = "0700" if want_dir else "0600"
        raise KeyringError(f"{path}: readable by group or other (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}); run `chmod {want} {path}`")
    return st


def _read_key_file(path: Path) -> bytes:
    _check_private_mode(path, want_dir=False)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as err:
        raise KeyringError(f"{path}: cannot read: {err.strerror}") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise KeyringError(f"{path}: too large to be a key file")
    return data


def _load_public(path: Path) -> Ed25519PublicKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyringError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyringError(f"{path}: not an Ed25519 public key")
    return key


def _load_private(path: Path) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyringError(f"{path}: not an unencrypted PKCS8 PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError(f"{path}: not an Ed25519 private key")
    return key
