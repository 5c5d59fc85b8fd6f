"""siloos.privacy: the tokenized world (design §7).

Token format and near-misses (`tokens`), the encrypted per-customer vault (`vault`),
free-text detectors (`detect`, `patterns`, `known`) and the `Tokenizer` that ties them
together for exits, intake and hydration.
"""

from siloos.privacy.detect import (
    CompositeDetector,
    Detector,
    KnownValueDetector,
    PatternDetector,
    PresidioDetector,
    Span,
)
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.tokens import (
    TOKEN_RE,
    find_near_misses,
    find_tokens,
    is_token,
    looks_like_token,
    register_token_type,
    token_pattern,
)
from siloos.privacy.vault import TokenOutOfScope, Vault, VaultIntegrityError, create_vault_keys

__all__ = [
    "TOKEN_RE",
    "CompositeDetector",
    "Detector",
    "KnownValueDetector",
    "PatternDetector",
    "PresidioDetector",
    "Span",
    "TokenOutOfScope",
    "Tokenizer",
    "Vault",
    "VaultIntegrityError",
    "create_vault_keys",
    "find_near_misses",
    "find_tokens",
    "is_token",
    "looks_like_token",
    "register_token_type",
    "token_pattern",
]
