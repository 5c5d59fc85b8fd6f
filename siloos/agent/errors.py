"""The one error type the agent loader raises: `ManifestError`, with file and line."""

from __future__ import annotations

from siloos.errors import InputError


class ManifestError(InputError):
    """An agent folder, AGENT.md or procedure is invalid; `path` and `line` say where.

    It is the only exception `load_agent` and `load_procedure` let out, whatever the
    input, so callers (`silo run`, `silo pack`) can print one line and exit 2.
    """
