"""Why a benchmark refuses to report a figure instead of reporting a wrong one."""

from __future__ import annotations

from siloos.errors import SiloError


class BenchmarkFailed(SiloError):
    """A measurement could not be made honestly (a bench cell failed, calls were refused).

    Exit 4, like a failed task: the suite never prints a number it did not measure.
    A missing sandbox is `SandboxUnavailable` (exit 5) instead.
    """

    exit_code = 4
