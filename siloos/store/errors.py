"""Errors the task store raises; each maps to a CLI exit code through `SiloError`."""

from __future__ import annotations

from siloos.errors import SiloError, UsageError


class StoreError(SiloError):
    """The state store refused an operation (exit 2: the caller asked for something wrong)."""

    exit_code = 2


class UnknownTask(StoreError, UsageError):
    """No task with that id (e.g. `silo show task_nope`)."""


class HopConflict(StoreError):
    """A hop was started twice, or finished when it was not running."""


class PlaintextRefused(StoreError):
    """The injected plaintext guard found personal data in a value about to be stored."""


class StateDatabaseError(StoreError):
    """`.silo/state.db` is unreadable, not a database, or from a newer SiloOS."""
