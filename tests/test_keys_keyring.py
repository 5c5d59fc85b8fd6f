"""The keyring in .silo/keys: created private, never overwritten, loaded only when private."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from siloos.keys.keyring import KeyRing, KeyringError, create_keyring, kid_for


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_create_writes_private_files_and_returns_kid(tmp_path):
    keys = tmp_path / ".silo" / "keys"
    kid = create_keyring(keys)
    assert mode(keys) == 0o700
    priv, pub = keys / f"signing-{kid}.pem", keys / f"signing-{kid}.pub.pem"
    assert mode(priv) == 0o600 and mode(pub) == 0o600
    assert b"BEGIN PRIVATE KEY" in priv.read_bytes()  # PKCS8
    loaded = serialization.load_pem_public_key(pub.read_bytes())
    raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert kid == hashlib.sha256(raw).hexdigest()[: len(kid)]
    ring = KeyRing.load(keys)
    assert ring.kid == kid and set(ring.public_keys()) == {kid}
    assert repr(ring) == f"KeyRing(kid='{kid}')"  # the private key never shows in logs


def test_create_tightens_existing_dir(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    os.chmod(keys, 0o755)
    create_keyring(keys)
    assert mode(keys) == 0o700


def test_create_refuses_to_overwrite(tmp_path):
    keys = tmp_path / "keys"
    kid = create_keyring(keys)
    before = (keys / f"signing-{kid}.pem").read_bytes()
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        create_keyring(keys)
    assert (keys / f"signing-{kid}.pem").read_bytes() == before
    assert len(list(keys.iterdir())) == 2


def test_load_refuses_loose_modes(tmp_path):
    keys = tmp_path / "keys"
    kid = create_keyring(keys)
    os.chmod(keys, 0o750)
    with pytest.raises(KeyringError, match="readable by group or other"):
        KeyRing.load(keys)
    os.chmod(keys, 0o700)
    for name in (f"signing-{kid}.pem", f"signing-{kid}.pub.pem"):
        os.chmod(keys / name, 0o644)
        with pytest.raises(KeyringError, match="chmod 0600"):
            KeyRing.load(keys)
        os.chmod(keys / name, 0o600)
    KeyRing.load(keys)


def test_load_refuses_symlinked_key(tmp_path):
    keys = tmp_path / "keys"
    kid = create_keyring(keys)
    real = tmp_path / "elsewhere.pem"
    os.rename(keys / f"signing-{kid}.pem", real)
    os.symlink(real, keys / f"signing-{kid}.pem")
    with pytest.raises(KeyringError, match="symlink"):
        KeyRing.load(keys)


def test_load_missing(tmp_path):
    with pytest.raises(KeyringError, match="silo init"):
        KeyRing.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir(mode=0o700)
    with pytest.raises(KeyringError, match="no signing key"):
        KeyRing.load(tmp_path / "empty")


def test_load_refuses_mislabelled_and_extra_keys(tmp_path):
    keys = tmp_path / "keys"
    kid = create_keyring(keys)
    # a public key file whose name claims a kid that is not its own
    os.rename(keys / f"signing-{kid}.pub.pem", keys / "signing-0000000000000000.pub.pem")
    with pytest.raises(KeyringError, match="does not match"):
        KeyRing.load(keys)
    os.rename(keys / "signing-0000000000000000.pub.pem", keys / f"signing-{kid}.pub.pem")
    # a second private key: which one signs must not be a guess
    other = Ed25519PrivateKey.generate()
    path = keys / f"signing-{kid_for(other.public_key())}.pem"
    path.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    os.chmod(path, 0o600)
    with pytest.raises(KeyringError, match="more than one"):
        KeyRing.load(keys)


def test_load_refuses_missing_public_and_wrong_key_types(tmp_path):
    keys = tmp_path / "keys"
    kid = create_keyring(keys)
    os.remove(keys / f"signing-{kid}.pub.pem")
    with pytest.raises(KeyringError, match="public key"):
        KeyRing.load(keys)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (keys / f"signing-{kid}.pem").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(KeyringError, match="not an Ed25519"):
        KeyRing.load(keys)
    (keys / f"signing-{kid}.pem").write_bytes(b"garbage")
    with pytest.raises(KeyringError, match="not an unencrypted PKCS8"):
        KeyRing.load(keys)


def test_public_keys_is_a_copy(tmp_path):
    keys = tmp_path / "keys"
    create_keyring(keys)
    ring = KeyRing.load(keys)
    ring.public_keys()["evil"] = Ed25519PrivateKey.generate().public_key()
    assert "evil" not in ring.public_keys()
