"""The error types every SiloOS layer raises, each carrying the CLI exit code it maps to.

The CLI turns any `SiloError` into one line on stderr and its `exit_code` (design §10):
0 ok, 1 check failed, 2 usage or input error, 3 escalated/waiting for a human,
4 task failed, 5 sandbox unavailable. Anything else is a bug and shows a traceback only
with `--debug`.
"""

from __future__ import annotations

from pathlib import Path


class SiloError(Exception):
    """Base of every expected failure; `str(err)` is the one line the user sees."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(SiloError):
    """Bad arguments or unreadable input (exit 2)."""

    exit_code = 2


class InputError(SiloError):
    """A file the user gave us is malformed; carries where (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = Path(path) if path is not None else None
        self.line = line
        self.reason = message


class CheckFailed(SiloError):
    """A check (lint, doctor) found problems (exit 1)."""

    exit_code = 1


class TaskFailed(SiloError):
    """A task ended in 500, a timeout or a kill (exit 4)."""

    exit_code = 4


class SandboxUnavailable(SiloError):
    """The cell cannot be built; never fall back to running unjailed (exit 5)."""

    exit_code = 5
