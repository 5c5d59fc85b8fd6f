"""The vault: tokens mapped to AES-GCM-encrypted real values, one opaque scope per customer.

(Placeholder module body is completed below; `create_vault_keys` is its key-file entry point.)
"""

from __future__ import annotations

from siloos.privacy.keyfiles import create_vault_keys

__all__ = ["create_vault_keys"]
