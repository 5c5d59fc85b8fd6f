"""What packing and unpacking agree on: the pack's file name, member modes, and the verdict
a pack policy returns.

Kept apart so that `siloos.agent.unpack` (which reads untrusted packs) depends on nothing
of the packing side, and both sides refuse an empty policy list the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PACK_SUFFIX = ".silo"
#: Every member is written (and extracted) with these modes, whatever the source's were.
FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True)
class Verdict:
    """The outcome of one policy check: ok, or refused with a reason."""

    ok: bool
    reason: str = ""

    @classmethod
    def success(cls) -> Verdict:
        return cls(True)

    @classmethod
    def failure(cls, reason: str) -> Verdict:
        return cls(False, reason)


def require_policies(policies: Sequence[object]) -> None:
    """Raise ValueError if `policies` is empty."""
    # An empty policy list would pass everything: refuse it rather than trust it.
    if not policies:
        raise ValueError("an empty policy list is refused")
