"""siloos.keys: the Ed25519 keyring, minting and verifying base and task keys (design §6).

Public names: `create_keyring`, `KeyRing`; `mint_base_key`, `mint_hop_base_key`,
`mint_task_key`, `MintedBaseKey`, `MintedTaskKey`; `KeyVerifier`, `KeyRejected`,
`BaseClaims`, `TaskClaims`; `RevocationCheck`, `RevocationStore`, `InMemoryRevocations`,
`SqliteRevocations`;
`effective_caps` (base caps ∩ narrow) in `siloos.keys.scope`.
"""

from siloos.keys.claims import BaseClaims, TaskClaims
from siloos.keys.keyring import KeyRing, KeyringError, create_keyring, kid_for
from siloos.keys.mint import (
    MintedBaseKey,
    MintedTaskKey,
    MintError,
    mint_base_key,
    mint_hop_base_key,
    mint_task_key,
)
from siloos.keys.revocations import (
    InMemoryRevocations,
    RevocationCheck,
    RevocationStore,
    SqliteRevocations,
)
from siloos.keys.verify import KeyRejected, KeyVerifier

__all__ = ["BaseClaims", "InMemoryRevocations", "KeyRejected", "KeyRing", "KeyVerifier",
           "KeyringError", "MintError", "MintedBaseKey", "MintedTaskKey", "RevocationCheck",
           "RevocationStore", "SqliteRevocations", "TaskClaims", "create_keyring", "kid_for",
           "mint_base_key", "mint_hop_base_key", "mint_task_key"]
