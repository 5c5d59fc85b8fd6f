"""siloos.keys: the Ed25519 keyring, minting and verifying base and task keys (design §6)."""

from siloos.keys.keyring import KeyRing, KeyringError, create_keyring, kid_for

__all__ = ["KeyRing", "KeyringError", "create_keyring", "kid_for"]
