"""`membrane_call_us` and `echo_floor_us` (design §14), both timed from inside real cells.

One stdlib client (`siloos/bench/agents/timing/main.py`, on the SDK's raw `silo.Client`)
is staged as a bench agent's `main.py` and runs inside an nsjail cell twice in the same
run, with the same interpreter, jail, keys and request frame:

* against a real `Membrane` serving a real hop (`siloos.bench.hop.bench_hop`): every
  request is a `call` of the cheap `identity.verify` exit, so both keys are verified, the
  token's scope is checked and resolved, the result is tokenized and an audit row written;
* against the canned-reply server (`siloos.bench.echo`) on its own event-loop thread: the
  floor Python and the socket set on this machine.

The only difference between the two figures is what the server does. The cell prints its
raw samples; p50/p99 are computed here (`siloos.bench.stats`). A run whose client saw any
refusal, or whose cell did not print its samples, raises `BenchmarkFailed`.

The two are measured interleaved, in `ROUNDS` rounds of one echo cell and one membrane
cell each (which goes first alternates), and each figure is taken over all its rounds'
samples. On a shared machine the floor itself moves between moments (and with where the
scheduler puts the client and the server: one core or two); measuring both sides through
the same moments keeps that drift out of their ratio instead of charging it to one side.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.bench.agents import BENCH_AGENT, TIMING_MAIN
from siloos.bench.agents.timing.main import WARMUP
from siloos.bench.echo import serve_on_loop
from siloos.bench.errors import BenchmarkFailed
from siloos.bench.hop import BenchHop, bench_hop
from siloos.bench.loop_thread import run_on
from siloos.bench.stats import CALL_FRACTIONS, percentiles
from siloos.cell.backend import JailBackend
from siloos.cell.spec import CELL_SOCKET, CellResult, CellSpec, uid_for_agent
from siloos.cell.staging import staging_root
from siloos.sdk import SDK_DIR
from siloos.workspace import CellConfig

CELL_LIMITS = {"wall_seconds": 60, "memory_mb": 128, "pids": 16, "tmp_mb": 4}
#: Echo/membrane cell pairs a measurement is split into. Each fresh cell lands where the
#: scheduler puts it (on the server's core or the other), which moves the echo floor
#: between about 30 and 100 us on a 2-core machine; the more cells the figures pool, the
#: less one placement weighs on them (8 rounds gave ratios of 2.6-4.3 for the same code,
#: 32 rounds 3.2-3.8).
ROUNDS = 32
#: ...but never fewer timed calls per cell than this (a quick run makes fewer rounds).
MIN_CALLS_PER_ROUND = 25


@dataclass(frozen=True)
class CallFigures:
    """p50/p99 microseconds of the in-cell client against the membrane and the echo floor."""

    membrane_call_us: dict[str, float]
    echo_floor_us: dict[str, float]
    calls: int


def _private_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o700)
    return path


def _timing_agent(folder: Path, n: int, hop: BenchHop) -> Path:
    """The timing client as a bench agent's main.py, its arguments beside it."""
    agent = folder / "agent"
    agent.mkdir(mode=0o755)
    shutil.copyfile(TIMING_MAIN, agent / "main.py")
    (agent / "args.json").write_text(json.dumps([n, hop.tool, json.dumps(hop.args)]),
                                     encoding="utf-8")
    return agent


def _samples(result: CellResult, n: int, what: str) -> list[float]:
    """The samples one cell printed, refusing any run that measured refusals."""
    if result.status != "exited" or result.exit_code != 0:
        raise BenchmarkFailed(f"{what}: the bench cell ended {result.status} (exit "
                              f"{result.exit_code}): {result.stderr.strip()[-300:]}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        printed: dict[str, Any] = json.loads(lines[-1])
        samples = [float(s) for s in printed["samples_us"]]
        measured, failed = int(printed["n"]), int(printed["failed"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise BenchmarkFailed(f"{what}: the bench cell printed no samples") from None
    if measured != n or len(samples) != n or failed:
        raise BenchmarkFailed(f"{what}: {failed} of {measured} requests were refused, "
                              f"{len(samples)} timed; the figure would not measure calls")
    return samples


def _rounds(n: int) -> list[int]:
    """Calls per round: `ROUNDS` rounds (fewer if n is small), summing to n."""
    rounds = max(1, min(ROUNDS, n // MIN_CALLS_PER_ROUND))
    return [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]


def _run_client_cell(backend: JailBackend, cell: CellConfig, agent: Path, hop: BenchHop,
                     socket: Path, loop: asyncio.AbstractEventLoop) -> CellResult:
    spec = CellSpec(
        agent_dir=agent, interpreter=cell.interpreter,
        uid=uid_for_agent(BENCH_AGENT, cell.uid_base, cell.uid_count),
        limits=dict(CELL_LIMITS), sdk_dir=SDK_DIR, membrane_socket=socket,
        # The same real keys in both runs, so the echo floor moves the same bytes as a call.
        env={"SILO_BASE_KEY": hop.base_key, "SILO_TASK_KEY": hop.task_key,
             "SILO_TASK_ID": hop.task_id, "SILO_MEMBRANE": CELL_SOCKET})
    # On the server's own loop: `silo run` runs a cell and its membrane on one loop, so
    # the server shares its thread with the cell's supervision, never competes with it.
    return run_on(loop, backend.run(spec), timeout=CELL_LIMITS["wall_seconds"] + 30)


def measure_calls_in_cells(n: int, backend: JailBackend, cell: CellConfig) -> CallFigures:
    """Time `n` calls (after each cell's warm-up) against the echo server and as many
    against the membrane, with the same client, keys and frame, interleaved in rounds of
    one fresh cell per server."""
    if n <= 0:
        raise ValueError("n must be positive")
    per_round = _rounds(n)
    # Under the cells' traverse-only staging root; the sockets' own folders stay private
    # (staging hands each socket to the cell uid and links it where the cell can reach it).
    folder = Path(tempfile.mkdtemp(prefix="bench-calls-", dir=staging_root()))
    floor: list[float] = []
    call: list[float] = []
    try:
        os.chmod(folder, 0o711)  # noqa: S103 - traverse-only, like the staging root
        # The hop's budget covers every round's calls and every cell's warm-up.
        budget = n + len(per_round) * WARMUP
        with bench_hop(_private_dir(folder, "hop"), budget) as hop:
            echo_socket = _private_dir(folder, "echo") / "echo.sock"
            with serve_on_loop(echo_socket) as (_, echo_loop):
                for i, count in enumerate(per_round):
                    round_dir = folder / f"round-{i}"
                    round_dir.mkdir(mode=0o711)
                    agent = _timing_agent(round_dir, count, hop)
                    sides = [("echo floor", echo_socket, echo_loop, floor),
                             ("membrane call", hop.socket_path, hop.loop, call)]
                    for what, socket, loop, into in (sides if i % 2 == 0 else sides[::-1]):
                        result = _run_client_cell(backend, cell, agent, hop, socket, loop)
                        into.extend(_samples(result, count, what))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return CallFigures(membrane_call_us=percentiles(call, CALL_FRACTIONS, 1),
                       echo_floor_us=percentiles(floor, CALL_FRACTIONS, 1), calls=n)
