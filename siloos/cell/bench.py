"""Cell start-up benchmark: a jailed start beside a bare start of the same script (design §14).

`measure_cell_start(n)`: from "the router decides to run" (just before `backend.run`) to the
moment the host has answered the cell's first request on its membrane socket.
`measure_bare_start(n)`: the same interpreter, bootstrap and agent script, started as a
plain subprocess with the same environment shape, timed to the same moment. Both serve
the request with the same trivial asyncio unix-socket server in this process, so the
ratio between them is what the cell costs. `silo bench` (a colleague's) reports them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from siloos.cell.backend import JailBackend
from siloos.cell.nsjail import NsjailBackend
from siloos.cell.spec import INTERPRETER_FLAGS, CellSpec
from siloos.cell.staging import staging_root

#: A stdlib agent: one request to the membrane, wait for the reply, done.
AGENT_SCRIPT = """\
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["SILO_MEMBRANE"])
s.sendall(b'{"v": 1, "id": 1, "op": "task"}\\n')
s.makefile("rb").readline()
"""
REPLY = b'{"id": 1, "ok": true, "result": {}}\n'
BENCH_UID = 200_000 - 2
BENCH_LIMITS = {"wall_seconds": 20, "memory_mb": 128, "pids": 16, "tmp_mb": 4}
SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95_index = max(0, min(len(ordered) - 1, round(0.95 * (len(ordered) - 1))))
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[p95_index], 2)}


class _FirstAnswer:
    """A unix-socket server answering each line with a canned reply, noting when it did."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answered: asyncio.Future[float] | None = None
        self.server: asyncio.AbstractServer | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                writer.write(REPLY)
                await writer.drain()
                if self.answered is not None and not self.answered.done():
                    self.answered.set_result(time.perf_counter())
        finally:
            writer.close()

    async def __aenter__(self) -> _FirstAnswer:
        self.server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def expect(self) -> asyncio.Future[float]:
        self.answered = asyncio.get_running_loop().create_future()
        return self.answered


def _workdir() -> tuple[Path, Path, Path]:
    """A traverse-only folder holding the agent and the socket (cells must reach the socket)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=staging_root()))
    os.chmod(folder, 0o711)  # noqa: S103 - the cell uid must traverse to the socket
    agent = folder / "agent"
    agent.mkdir()
    (agent / "main.py").write_text(AGENT_SCRIPT)
    return folder, agent, folder / "membrane.sock"


async def _cell_samples(n: int, backend: JailBackend, interpreter: str) -> list[float]:
    folder, agent, sock = _workdir()
    samples = []
    try:
        async with _FirstAnswer(sock) as server:
            spec = CellSpec(agent_dir=agent, interpreter=interpreter, uid=BENCH_UID,
                            limits=dict(BENCH_LIMITS), sdk_dir=SDK_DIR, membrane_socket=sock)
            for _ in range(n):
                answered = server.expect()
                started = time.perf_counter()
                run = asyncio.ensure_future(backend.run(spec))
                done, _ = await asyncio.wait({answered, run}, return_when=asyncio.FIRST_COMPLETED)
                if answered not in done:
                    result = run.result()
                    raise RuntimeError(f"bench cell ended without a request ({result.status}, "
                                       f"exit {result.exit_code}): {result.stderr[-300:]}")
                samples.append((answered.result() - started) * 1000)
                await run
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return samples


async def _bare_samples(n: int, interpreter: str) -> list[float]:
    folder, agent, sock = _workdir()
    samples = []
    bootstrap = str(SDK_DIR / "bootstrap.py")
    try:
        async with _FirstAnswer(sock) as server:
            for _ in range(n):
                answered = server.expect()
                started = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    interpreter, *INTERPRETER_FLAGS, bootstrap, str(agent),
                    env={"SILO_MEMBRANE": str(sock), "SILO_TEMP": str(folder)},
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                waited = asyncio.ensure_future(proc.wait())
                done, _ = await asyncio.wait({answered, waited},
                                             return_when=asyncio.FIRST_COMPLETED)
                if answered not in done:
                    raise RuntimeError(f"bare run ended without a request (exit {proc.returncode})")
                samples.append((answered.result() - started) * 1000)
                await waited
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return samples


def measure_cell_start(n: int, backend: JailBackend | None = None,
                       interpreter: str = "/usr/bin/python3") -> dict[str, float]:
    """p50/p95 milliseconds from `backend.run` to the cell's first request answered."""
    if n <= 0:
        raise ValueError("n must be positive")
    jail = backend or NsjailBackend(interpreter=interpreter)
    return _percentiles(asyncio.run(_cell_samples(n, jail, interpreter)))


def measure_bare_start(n: int, interpreter: str = "/usr/bin/python3") -> dict[str, float]:
    """p50/p95 milliseconds for the same script as a plain subprocess, no jail."""
    if n <= 0:
        raise ValueError("n must be positive")
    return _percentiles(asyncio.run(_bare_samples(n, interpreter)))
