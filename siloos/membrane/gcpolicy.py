"""The garbage-collector setting of a process that serves membranes.

CPython collects its youngest generation after 700 net new container objects. A membrane
request leaves a few dozen behind for a while (journal rows waiting to be folded in,
results kept for replay, memo entries), so a young collection landed on about one request
in forty; with cold caches it added 100-300 µs to that request, which made it the p99 of a
call (`silo bench`: p99 about 8x the echo floor, 5-6x with the threshold below). A young
collection costs about the same at 10,000 as at 700, since its work follows the objects
still alive, not the ones allocated, so raising the threshold makes them rarer, not longer.
What it holds back is cyclic garbage, of which the request path makes little: at most
some 10,000 objects, about a megabyte.
"""

from __future__ import annotations

import gc

#: Net new container objects before the youngest generation is collected.
YOUNG_THRESHOLD = 10_000


def raise_young_threshold(threshold: int = YOUNG_THRESHOLD) -> None:
    """Raise the youngest generation's threshold to `threshold`, for the whole process.

    Never lowers it, and leaves a threshold of 0 (collection switched off by the program
    embedding SiloOS) as it is; the older generations' thresholds are kept."""
    young, middle, old = gc.get_threshold()
    if young != 0 and young < threshold:
        gc.set_threshold(threshold, middle, old)
