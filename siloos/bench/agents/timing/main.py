"""Bench agent: time membrane round trips from inside a cell. Stdlib and `silo.Client` only.

`silo bench` stages this file as a bench agent's `main.py`, with `args.json` beside it:
`[N, TOOL, JSON_ARGS]` (`[N]` alone times the `task` op). In the cell it connects with the
SDK's raw `silo.Client` (socket and keys from the cell's environment), sends `WARMUP`
untimed requests, then times N one at a time, and prints one JSON line:
`{"samples_us": [...], "n": N, "failed": F}`. Percentiles are computed on the host
(`siloos.bench.stats`), so every figure of the bench uses one rule.

`time_round_trips` measures what an agent pays per request: send the encoded frame, read
the reply line, decode it (encoding is outside the clock). The same function times the
real membrane and the echo floor, in cells and in the bench process, so the two figures
differ only by what the server does. It needs only a client's `encode` and `round_trip`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

WARMUP = 20


def time_round_trips(client: Any, n: int, op: str, fields: dict[str, Any],
                     warmup: int = WARMUP) -> dict[str, Any]:
    """`n` round-trip times in microseconds (after `warmup` untimed requests), and how many
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
            samples.append(round(elapsed * 1e6, 1))
            failed += reply.get("ok") is not True
    return {"samples_us": samples, "n": n, "failed": failed}


def read_args(folder: str) -> tuple[int, str | None, dict[str, Any]]:
    """(N, TOOL or None, call arguments) from `args.json` in `folder`."""
    with open(os.path.join(folder, "args.json"), encoding="utf-8") as handle:
        args = json.load(handle)
    if not isinstance(args, list) or not args:
        raise ValueError("args.json must be [N, TOOL, JSON_ARGS] or [N]")
    n = int(args[0])
    tool = str(args[1]) if len(args) > 1 else None
    call_args = json.loads(args[2]) if len(args) > 2 else {}
    if not isinstance(call_args, dict):
        raise ValueError("JSON_ARGS must be an object")
    return n, tool, call_args


def main() -> int:
    """Time the requests `args.json` asks for; print the JSON result line."""
    from silo import Client  # the cell's SDK (bootstrap puts /opt/silo on sys.path)

    try:
        n, tool, call_args = read_args(os.path.dirname(os.path.abspath(__file__)))
    except (OSError, ValueError) as err:
        print(f"timing: bad args.json: {err}", file=sys.stderr)
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
