"""`tasks_per_s` beside `bare_tasks_per_s` (design §14): trivial tasks, router vs bare.

A trivial task is one stdlib agent (`TRIVIAL_MAIN`) that reads its task, makes one call and
finishes 200. Through the router it runs exactly as `silo run` would: a throwaway workspace
made by `init_workspace`, the demo back office, `Runtime.open` (sandbox preflight included),
then `run_task` per task — intake and tokenizing, task and base keys, a membrane per hop, a
real nsjail cell, the audit, revocation. Tasks run one after another: the router's default
worker count today is 1 (`DEFAULT_WORKERS`; there is no dispatcher pool yet).

The bare baseline runs the same interpreter, bootstrap and script as plain subprocesses,
one after another, against the bench's canned-reply server (`siloos.bench.echo`, whose
replies are numbered per connection, as the SDK checks ids): no jail, no keys, no store.
The rate is counted over the timed tasks only; the runtime is opened before the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from siloos.backoffice import BackOffice
from siloos.bench.agents import BENCH_AGENT
from siloos.bench.echo import CannedReplyServer
from siloos.bench.errors import BenchmarkFailed
from siloos.cell.spec import INTERPRETER_FLAGS
from siloos.sdk import SDK_DIR
from siloos.workspace import CellConfig, Workspace
from siloos.workspace_init import init_workspace

DEFAULT_WORKERS = 1
#: A customer of the shipped demo back office (`BackOffice.seed_demo`).
BENCH_CUSTOMER = "C-1001"
BENCH_MESSAGE = "Where is my order?"

TRIVIAL_MAIN = """\
import silo

task = silo.task()
silo.call("customers.get", customer=task["input"]["customer"])
silo.finish(200, summary={"bench": "one call"})
"""

AGENT_MD = f"""\
---
name: {BENCH_AGENT}
description: Benchmark agent for silo bench; reads its task, makes one call, finishes 200.
version: 1.0.0
capabilities:
  customers.get: {{}}
escalate_to: []
limits:
  wall_seconds: 30
  memory_mb: 128
  pids: 16
  tmp_mb: 4
  tool_calls: 5
---

# Bench agent

## Purpose

Measures what a trivial task costs through the router: one call, then finish.

## Capabilities

- Read the task's customer (`customers.get`).

## Limitations

- Does nothing else.

## Escalation

- Never escalates.
"""

#: The bare server's result: a task payload is enough for every request the script makes.
_BARE_RESULT = json.dumps({"task_id": "task_bench", "agent": BENCH_AGENT,
                           "input": {"customer": "cust_tk_000000000000"}, "history": [],
                           "outcomes": {}}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TaskRate:
    """Tasks per second over `tasks` timed tasks run one after another."""

    tasks_per_s: float
    tasks: int
    seconds: float
    workers: int = DEFAULT_WORKERS


def _rate(tasks: int, seconds: float) -> TaskRate:
    if seconds <= 0:
        raise BenchmarkFailed("task benchmark: the clock did not advance")
    return TaskRate(tasks_per_s=round(tasks / seconds, 2), tasks=tasks,
                    seconds=round(seconds, 3))


def write_bench_agent(folder: Path) -> Path:
    """Write the trivial agent into `folder` (made); returns it."""
    folder.mkdir(parents=True)
    (folder / "AGENT.md").write_text(AGENT_MD, encoding="utf-8")
    (folder / "main.py").write_text(TRIVIAL_MAIN, encoding="utf-8")
    return folder


@contextlib.contextmanager
def bench_workspace(cell: CellConfig) -> Iterator[tuple[Workspace, Path]]:
    """A throwaway workspace with the demo back office and the trivial agent, using `cell`."""
    tmp = Path(tempfile.mkdtemp(prefix="silo-bench-ws-"))
    try:
        init_workspace(tmp / "ws", name="bench")
        loaded = Workspace.load(tmp / "ws")
        workspace = replace(loaded, config=replace(loaded.config, cell=cell))
        with BackOffice.open(workspace.backoffice_db) as office:
            office.seed_demo()
        yield workspace, write_bench_agent(workspace.agents_dir / BENCH_AGENT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure_router_tasks(n: int, cell: CellConfig, warmup: int = 1) -> TaskRate:
    """Tasks per second through `run_task`, one after another, in real cells."""
    from siloos.router.run import run_task
    from siloos.router.runtime import Runtime

    if n <= 0:
        raise ValueError("n must be positive")
    with bench_workspace(cell) as (workspace, agent):
        rt = Runtime.open(workspace)  # SandboxUnavailable (exit 5) before any state
        try:
            started = 0.0
            for i in range(warmup + n):
                if i == warmup:
                    started = time.perf_counter()
                result = run_task(rt, agent, customer=BENCH_CUSTOMER, message=BENCH_MESSAGE)
                if result.state != "done" or result.status != 200:
                    raise BenchmarkFailed(f"router task benchmark: a trivial task ended "
                                          f"{result.state} ({result.status}): "
                                          f"{result.stderr.strip()[-300:]}")
            elapsed = time.perf_counter() - started
        finally:
            rt.close()
    return _rate(n, elapsed)


async def _bare_tasks(n: int, warmup: int, interpreter: str, agent: Path,
                      sock: Path) -> float:
    bootstrap = str(SDK_DIR / "bootstrap.py")
    async with CannedReplyServer(sock, _BARE_RESULT):
        started = 0.0
        for i in range(warmup + n):
            if i == warmup:
                started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                interpreter, *INTERPRETER_FLAGS, bootstrap, str(agent),
                env={"SILO_MEMBRANE": str(sock), "SILO_TEMP": str(sock.parent)},
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            _, stderr = await proc.communicate()
            if proc.returncode != 0:
                why = stderr.decode(errors="replace").strip()[-300:]
                raise BenchmarkFailed(f"bare task benchmark: the script exited "
                                      f"{proc.returncode}: {why}")
        return time.perf_counter() - started


def measure_bare_tasks(n: int, interpreter: str, warmup: int = 1) -> TaskRate:
    """Tasks per second for the same script as plain subprocesses: no jail, no keys."""
    if n <= 0:
        raise ValueError("n must be positive")
    tmp = Path(tempfile.mkdtemp(prefix="silo-bench-bare-"))
    try:
        agent = write_bench_agent(tmp / BENCH_AGENT)
        sock = tmp / "bare.sock"
        os.chmod(tmp, 0o700)
        elapsed = asyncio.run(_bare_tasks(n, warmup, interpreter, agent, sock))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _rate(n, elapsed)
