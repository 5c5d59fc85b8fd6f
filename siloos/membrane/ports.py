"""What the membrane needs from its neighbours, stated as narrow protocols.

The membrane is wired with the real `siloos.keys.KeyVerifier`, `siloos.store.StateStore`
and `siloos.privacy.Tokenizer`; tests may hand it small doubles that honour these shapes.
Keeping the seams this narrow is what lets the check pipeline be read (and attacked) on its
own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class KeyVerifierPort(Protocol):
    """Verifies a request's two compact JWTs (`siloos.keys.KeyVerifier`); raises an exception
    with `.code` and `.reason` (`siloos.keys.verify.KeyRejected`) when refused."""

    def verify_pair(self, base_token: object, task_token: object, *,
                    expected_agent: str) -> tuple[Any, Any]: ...


class StatePort(Protocol):
    """The slice of the state store the membrane writes and reads."""

    def audit(self, task_id: str | None, hop: int | None, *, op: str, tool: str | None = None,
              ok: bool, code: int | None = None, reason: str | None = None,
              detail: Any = None) -> int: ...

    def add_event(self, task_id: str, kind: str, data: dict[str, Any] | None = None,
                  hop: int | None = None) -> int: ...

    def revoke(self, jti: str, *, task_id: str | None = None, hop: int | None = None,
               reason: str | None = None) -> bool: ...

    def is_revoked(self, jti: str) -> bool: ...

    def hop_active(self, task_id: str, hop: int) -> bool: ...

    def hop_gate(self, task_id: str, hop: int, task_jti: str, base_jti: str) -> str | None:
        """None when the hop may act; else "task_key_revoked", "base_key_revoked" or
        "hop_inactive" (the first that fails, in that order). Must see a revocation or a
        hop's end committed by any connection or process by the next call."""
        ...

    def changes_seen(self) -> int:
        """Moves whenever the last freshness look (`hop_gate`) found state.db changed."""
        ...

    def record_exit_result(self, idempotency_key: str, *, task_id: str, hop: int, seq: int,
                           tool: str, result: Any, audit: Any = None) -> Any:
        """Record a result; with `audit` (a `siloos.store.AuditRecord`), that row too, in
        the same transaction."""
        ...

    def lookup_exit_result(self, idempotency_key: str) -> Any: ...

    def open_journal(self, task_id: str, hop: int) -> JournalPort:
        """Where one hop's audit rows and exit results go (`siloos.store.HopJournal`)."""
        ...

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database at a quiet moment (hop end)."""
        ...

    def add_llm_usage(self, task_id: str, hop: int, agent: str, *, input_tokens: int,
                      output_tokens: int, calls: int = 1) -> None: ...


class JournalPort(Protocol):
    """A hop's audit trail and exit results: each write durable before it returns (so
    before the reply), folded into the state store in batches (`siloos.store.journal`)."""

    last_append: float

    @property
    def pending(self) -> int: ...

    def audit(self, record: Any) -> None: ...

    def record_exit_result(self, idempotency_key: str, *, task_id: str, hop: int, seq: int,
                           tool: str, result: Any, audit: Any = None) -> Any: ...

    def lookup_exit_result(self, idempotency_key: str) -> Any: ...

    def flush(self) -> int: ...

    def close(self) -> None: ...


class VaultPort(Protocol):
    """Turns a token back into its real value, only within one customer scope."""

    def resolve(self, token: str, scope: str) -> str: ...

    def known_version(self, scope: str) -> Any:
        """A fingerprint of the scope's known values that changes whenever one is added."""
        ...


class TokenizerPort(Protocol):
    """Replaces personal data with tokens of one scope."""

    vault: VaultPort

    def tokenize_text(self, text: str, scope: str, *, mint: bool = True) -> str: ...

    def tokenize_record(self, obj: Any, pii: Mapping[str, str], scope: str) -> Any: ...

    def tokenize_any(self, obj: Any, scope: str, *, mint: bool = True) -> Any: ...
