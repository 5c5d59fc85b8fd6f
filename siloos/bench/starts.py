"""`cell_start_ms` beside `bare_start_ms` (design §14): a jailed start vs a bare start.

`measure_cell_start(n)`: from "the router decides to run" (just before `backend.run`) to
the moment the host has answered the cell's first request on its membrane socket.
`measure_bare_start(n)`: the same interpreter, bootstrap and agent script, started as a
plain subprocess with the same environment shape, timed to the same moment. Both are
answered by the same `CannedReplyServer` in this process, so the ratio between them is
what the cell costs. `measure_starts(n)`, what `silo bench` reports, takes both in turns
(one jailed, one bare, which goes first alternating), so that a slower moment of the
machine falls on both alike. A run that ends without its request raises `BenchmarkFailed`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from siloos.bench.echo import CannedReplyServer
from siloos.bench.errors import BenchmarkFailed
from siloos.bench.stats import START_FRACTIONS, percentiles
from siloos.cell.backend import JailBackend
from siloos.cell.nsjail import NsjailBackend
from siloos.cell.spec import INTERPRETER_FLAGS, CellSpec
from siloos.cell.staging import staging_root
from siloos.sdk import SDK_DIR

#: A stdlib agent: one request to the membrane, wait for the reply, done.
AGENT_SCRIPT = """\
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["SILO_MEMBRANE"])
s.sendall(b'{"v": 1, "id": 1, "op": "task"}\\n')
s.makefile("rb").readline()
"""
BENCH_UID = 200_000 - 2
BENCH_LIMITS = {"wall_seconds": 20, "memory_mb": 128, "pids": 16, "tmp_mb": 4}


def _workdir() -> tuple[Path, Path, Path]:
    """A traverse-only folder holding the agent and the socket (cells must reach the socket)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=staging_root()))
    os.chmod(folder, 0o711)  # noqa: S103 - the cell uid must traverse to the socket
    agent = folder / "agent"
    agent.mkdir()
    (agent / "main.py").write_text(AGENT_SCRIPT)
    return folder, agent, folder / "membrane.sock"


async def _cell_start(server: CannedReplyServer, backend: JailBackend, spec: CellSpec) -> float:
    """One jailed start: milliseconds from `backend.run` to the first request answered."""
    answered = server.expect()
    started = time.perf_counter()
    run = asyncio.ensure_future(backend.run(spec))
    done, _ = await asyncio.wait({answered, run}, return_when=asyncio.FIRST_COMPLETED)
    if answered not in done:
        result = run.result()
        raise BenchmarkFailed(
            f"start-up benchmark: the bench cell ended without a request "
            f"({result.status}, exit {result.exit_code}): {result.stderr[-300:]}")
    await run
    return (answered.result() - started) * 1000


async def _bare_start(server: CannedReplyServer, interpreter: str, agent: Path,
                      sock: Path) -> float:
    """One bare start of the same script: a plain subprocess, timed to the same moment."""
    answered = server.expect()
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        interpreter, *INTERPRETER_FLAGS, str(SDK_DIR / "bootstrap.py"), str(agent),
        env={"SILO_MEMBRANE": str(sock), "SILO_TEMP": str(agent.parent)},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waited = asyncio.ensure_future(proc.wait())
    done, _ = await asyncio.wait({answered, waited}, return_when=asyncio.FIRST_COMPLETED)
    if answered not in done:
        raise BenchmarkFailed(f"start-up benchmark: the bare run ended without "
                              f"a request (exit {proc.returncode})")
    await waited
    return (answered.result() - started) * 1000


async def _start_samples(n: int, backend: JailBackend | None, interpreter: str,
                         bare: bool) -> tuple[list[float], list[float]]:
    """(jailed, bare) samples: `n` of each kind asked for (jailed when `backend` is given,
    bare when `bare`), taken in turns (which goes first alternates), all answered by one
    server, so a moment when the machine is slower falls on both kinds alike."""
    folder, agent, sock = _workdir()
    jailed_ms: list[float] = []
    bare_ms: list[float] = []
    try:
        async with CannedReplyServer(sock) as server:
            spec = CellSpec(agent_dir=agent, interpreter=interpreter, uid=BENCH_UID,
                            limits=dict(BENCH_LIMITS), sdk_dir=SDK_DIR, membrane_socket=sock)
            turns: list[tuple[list[float], Callable[[], Awaitable[float]]]] = []
            if backend is not None:
                turns.append((jailed_ms, lambda: _cell_start(server, backend, spec)))
            if bare:
                turns.append((bare_ms, lambda: _bare_start(server, interpreter, agent, sock)))
            for i in range(n):
                for into, start in (turns if i % 2 == 0 else turns[::-1]):
                    into.append(await start())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return jailed_ms, bare_ms


@dataclass(frozen=True)
class StartFigures:
    """p50/p95 milliseconds of jailed and bare starts measured in turns."""

    cell_start_ms: dict[str, float]
    bare_start_ms: dict[str, float]


def measure_starts(n: int, backend: JailBackend | None = None,
                   interpreter: str = "/usr/bin/python3") -> StartFigures:
    """`n` jailed and `n` bare starts, in turns: what `silo bench` reports."""
    if n <= 0:
        raise ValueError("n must be positive")
    jail = backend or NsjailBackend(interpreter=interpreter)
    jailed, bare = asyncio.run(_start_samples(n, jail, interpreter, bare=True))
    return StartFigures(cell_start_ms=percentiles(jailed, START_FRACTIONS, 2),
                        bare_start_ms=percentiles(bare, START_FRACTIONS, 2))


def measure_cell_start(n: int, backend: JailBackend | None = None,
                       interpreter: str = "/usr/bin/python3") -> dict[str, float]:
    """p50/p95 milliseconds from `backend.run` to the cell's first request answered."""
    if n <= 0:
        raise ValueError("n must be positive")
    jail = backend or NsjailBackend(interpreter=interpreter)
    jailed, _ = asyncio.run(_start_samples(n, jail, interpreter, bare=False))
    return percentiles(jailed, START_FRACTIONS, 2)


def measure_bare_start(n: int, interpreter: str = "/usr/bin/python3") -> dict[str, float]:
    """p50/p95 milliseconds for the same script as a plain subprocess, no jail."""
    if n <= 0:
        raise ValueError("n must be positive")
    _, bare = asyncio.run(_start_samples(n, None, interpreter, bare=True))
    return percentiles(bare, START_FRACTIONS, 2)
