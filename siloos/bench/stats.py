"""The one percentile rule every `silo bench` figure uses: nearest rank over the samples.

Start-up (p50/p95), membrane calls and the echo floor (p50/p99) are all summarised here,
on the host, from raw samples, so two figures that are compared were computed alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in (0, 1]) of already sorted samples."""
    if not sorted_samples:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    # The smallest sample with at least `fraction` of the samples at or below it; the
    # inner round keeps 0.07 * 100 (7.000000000000001) from ranking as 8.
    rank = max(1, min(len(sorted_samples), math.ceil(round(fraction * len(sorted_samples), 9))))
    return sorted_samples[rank - 1]


def percentiles(samples: Iterable[float], fractions: dict[str, float],
                digits: int) -> dict[str, float]:
    """`{"p50": …, "p99": …}` for `fractions` such as `{"p50": 0.50, "p99": 0.99}`, each
    rounded to `digits` places."""
    ordered = sorted(samples)
    return {name: round(percentile(ordered, fraction), digits)
            for name, fraction in fractions.items()}


#: Start-up figures (milliseconds, 2 places) and round trips (microseconds, 1 place).
START_FRACTIONS = {"p50": 0.50, "p95": 0.95}
CALL_FRACTIONS = {"p50": 0.50, "p99": 0.99}
