"""The membrane call and its echo floor timed from this process, without cells.

For profiling the membrane itself (docs/perf.md): the bench's timing function
(`siloos.bench.agents.timing.main.time_round_trips`) drives the SDK's raw `Client` here,
against a real membrane serving a real hop (`siloos.bench.hop`) or against the canned-reply
server (`siloos.bench.echo`) with a call-sized frame. `silo bench` reports the in-cell
figures (`siloos.bench.cell_calls`) instead; these leave out what the cell adds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from siloos.bench.agents.timing.main import time_round_trips
from siloos.bench.echo import serve_in_thread
from siloos.bench.errors import BenchmarkFailed
from siloos.bench.hop import BENCH_TOOL, BenchHop, bench_hop
from siloos.bench.stats import CALL_FRACTIONS, percentiles
from siloos.sdk.silo.client import Client

#: Compact JWT lengths of real keys (about), so the floor moves as many bytes as a call.
_KEY_LIKE = "k" * 720


def hop_client(hop: BenchHop) -> Client:
    """The SDK's raw client for `hop`, from this process."""
    return Client(str(hop.socket_path), base_key=hop.base_key, task_key=hop.task_key,
                  timeout=30)


def _checked(result: dict[str, Any], what: str) -> dict[str, float]:
    if result["failed"]:
        raise BenchmarkFailed(f"{what}: {result['failed']} of {result['n']} requests failed")
    return percentiles(result["samples_us"], CALL_FRACTIONS, 1)


def measure_membrane_call(n: int = 2000) -> dict[str, float]:
    """p50/p99 (µs) of one `call` round trip through a real membrane, from this process."""
    with tempfile.TemporaryDirectory(prefix="silo-bench-") as tmp, \
            bench_hop(Path(tmp), n) as hop, hop_client(hop) as client:
        result = time_round_trips(client, n, "call", {"tool": hop.tool, "args": hop.args})
    return _checked(result, "membrane call")


def measure_echo_floor(n: int = 2000) -> dict[str, float]:
    """p50/p99 (µs) of the same client's round trip, with a call-sized frame, against the
    canned-reply server."""
    fields = {"tool": BENCH_TOOL, "args": {"token": "email_tk_" + "0" * 16,
                                           "value_sha256": "0" * 64}}
    with tempfile.TemporaryDirectory(prefix="silo-echo-") as tmp, \
            serve_in_thread(Path(tmp) / "echo.sock") as path, \
            Client(str(path), base_key=_KEY_LIKE, task_key=_KEY_LIKE, timeout=30) as client:
        result = time_round_trips(client, n, "call", fields)
    return _checked(result, "echo floor")
