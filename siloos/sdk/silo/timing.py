"""Round-trip timing against the membrane, for `silo bench`. Stdlib only; runs in a cell.

`time_round_trips` measures what an agent pays per request: encode the frame, send it,
read the reply line, decode it. The same function times the real membrane and the bare
"echo floor" server, so the two figures differ only by what the server does.

As a script (or `silo.timing.main()` from a cell's main.py) it reads the socket and keys
from the cell's environment and prints one JSON line: `{"p50": µs, "p99": µs, "n": N,
"failed": F}`. Arguments: `N [TOOL [JSON_ARGS]]`; without TOOL it times the `task` op.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

if __package__ in (None, ""):  # run as a file: make the package importable by name
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from silo.client import Client
else:
    from .client import Client

WARMUP = 20


def percentile(sorted_samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted samples."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, min(len(sorted_samples), round(fraction * len(sorted_samples) + 0.5)))
    return sorted_samples[rank - 1]


def time_round_trips(client: Client, n: int, op: str, fields: dict[str, Any],
                     warmup: int = WARMUP) -> dict[str, Any]:
    """p50/p99 in microseconds of `n` requests (after `warmup` untimed ones), and how many
    replies were errors (a benchmark of refusals would measure the wrong thing)."""
    if n <= 0:
        raise ValueError("n must be positive")
    samples: list[float] = []
    failed = 0
    clock = time.perf_counter
    for i in range(warmup + n):
        _, line = client.encode(op, fields)
        start = clock()
        reply = json.loads(client.round_trip(line))
        elapsed = clock() - start
        if i >= warmup:
            samples.append(elapsed * 1e6)
            failed += reply.get("ok") is not True
    samples.sort()
    return {"p50": round(percentile(samples, 0.50), 1), "p99": round(percentile(samples, 0.99), 1),
            "n": n, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    """Time N requests from the cell's environment; print the JSON result line."""
    args = sys.argv[1:] if argv is None else argv
    try:
        n = int(args[0]) if args else 1000
        tool = args[1] if len(args) > 1 else None
        call_args = json.loads(args[2]) if len(args) > 2 else {}
    except ValueError as err:
        print(f"usage: timing.py N [TOOL [JSON_ARGS]]: {err}", file=sys.stderr)
        return 2
    with Client() as client:
        if tool is None:
            result = time_round_trips(client, n, "task", {})
        else:
            result = time_round_trips(client, n, "call", {"tool": tool, "args": call_args})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
