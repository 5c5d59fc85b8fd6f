"""Membrane round-trip benchmarks for `silo bench` (design §14): the call and its floor.

`measure_membrane_call(n)` times the SDK client against a real membrane on a unix socket
doing a real `call` of a cheap built-in exit (`identity.verify`): both keys verified,
token scope checked and resolved, the argument hydrated, the result tokenized, an audit
row written to a real state store. `measure_echo_floor(n)` times the same client against
a trivial asyncio server that answers each line with a canned JSON line: the floor Python
sets on this machine. Both run the client in this process; `BenchHop` exposes the socket,
keys and call so the same stdlib client (`silo/timing.py`) can run inside a cell instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.exits import Registry
from siloos.keys.keyring import KeyRing, create_keyring
from siloos.keys.mint import mint_hop_base_key, mint_task_key
from siloos.keys.verify import KeyVerifier
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession
from siloos.privacy.keyfiles import create_vault_keys
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.vault import Vault
from siloos.sdk.silo.client import Client
from siloos.sdk.silo.timing import WARMUP, time_round_trips
from siloos.store import StateStore
from siloos.workspace import DEFAULT_LIMITS

BENCH_AGENT = "bench-agent"
BENCH_TOOL = "identity.verify"
CANNED_REPLY = b'{"id":0,"ok":true,"result":{}}\n'


class BenchmarkError(RuntimeError):
    """A benchmark measured refusals instead of calls (so its figure would mean nothing)."""


async def _cancel_the_rest() -> None:
    # Connection handlers still parked on a read would otherwise die with the loop.
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@contextlib.contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="silo-bench-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        with contextlib.suppress(Exception):
            _run(loop, _cancel_the_rest())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _run(loop: asyncio.AbstractEventLoop, coro: Awaitable[Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # type: ignore[arg-type]


@dataclass
class BenchHop:
    """A throwaway workspace with one running hop and its membrane listening on a socket."""

    socket_path: Path
    base_key: str
    task_key: str
    task_id: str
    args: dict[str, Any]
    membrane: Membrane

    @property
    def tool(self) -> str:
        return BENCH_TOOL

    def env(self) -> dict[str, str]:
        """The cell environment for a client inside a cell (socket path as seen outside)."""
        return {"SILO_MEMBRANE": str(self.socket_path), "SILO_BASE_KEY": self.base_key,
                "SILO_TASK_KEY": self.task_key, "SILO_TASK_ID": self.task_id}

    def client(self) -> Client:
        return Client(str(self.socket_path), base_key=self.base_key, task_key=self.task_key,
                      timeout=30)


@contextlib.contextmanager
def bench_hop(root: Path, calls: int) -> Iterator[BenchHop]:
    """Set up keys, state, vault and a hop under `root`, serve its membrane, yield it.

    The base key's `tool_calls` budget covers `calls` plus the warm-up, so every timed
    request is a real call, not a 429.
    """
    keys_dir = root / ".silo" / "keys"
    create_keyring(keys_dir)
    create_vault_keys(keys_dir)
    ring = KeyRing.load(keys_dir)
    store = StateStore.open(root / ".silo" / "state.db")
    try:
        vault = Vault(store.conn, keys_dir)
        scope = vault.scope_for("bench-customer")
        email = vault.tokenize("bench.customer@example.com", "email", scope)
        customer = vault.tokenize("bench-customer", "cust", scope)
        task_id = store.create_task(agent=BENCH_AGENT, customer_scope=scope,
                                    customer_token=customer, state="running")
        limits = {**DEFAULT_LIMITS, "tool_calls": calls + WARMUP + 10}
        caps: dict[str, dict[str, Any]] = {BENCH_TOOL: {}}
        base = mint_hop_base_key(ring, agent=BENCH_AGENT, version="1.0.0", digest="0" * 64,
                                 caps=caps, escalate_to=[], limits=limits)
        minted = mint_task_key(ring, agent=BENCH_AGENT, task_id=task_id, hop=1,
                               customer_token=customer, case_token=None,
                               wall_seconds=limits["wall_seconds"])
        store.start_hop(task_id, 1, BENCH_AGENT, minted.jti)
        session = CellSession(task_id=task_id, hop=1, agent=BENCH_AGENT, agent_dir=None,
                              customer_id="bench-customer", scope=scope,
                              task_payload={"task_id": task_id, "agent": BENCH_AGENT,
                                            "input": {}, "history": [], "outcomes": {}},
                              base_jti=base.jti, limits=limits)
        membrane = Membrane(session, verifier=KeyVerifier(ring.public_keys(), store),
                            registry=Registry.builtin(), store=store,
                            tokenizer=Tokenizer(vault), services={})
        socket_path = root / "membrane.sock"
        with _loop_thread() as loop:
            _run(loop, membrane.start(socket_path))
            try:
                yield BenchHop(socket_path=socket_path, base_key=base.token,
                               task_key=minted.token, task_id=task_id, membrane=membrane,
                               # The right answer: identity.verify stops answering a
                               # token after a few wrong guesses, and a bench never guesses.
                               args={"token": email, "value_sha256": hashlib.sha256(
                                   b"bench.customer@example.com").hexdigest()})
            finally:
                _run(loop, membrane.stop())
    finally:
        store.close()


def _checked(result: dict[str, Any], what: str) -> dict[str, float]:
    if result["failed"]:
        raise BenchmarkError(f"{what}: {result['failed']} of {result['n']} requests failed")
    return {"p50": result["p50"], "p99": result["p99"]}


def measure_membrane_call(n: int = 2000) -> dict[str, float]:
    """p50/p99 (µs) of one `call` round trip through a real membrane, from this process."""
    with tempfile.TemporaryDirectory(prefix="silo-bench-") as tmp, \
            bench_hop(Path(tmp), n) as hop, hop.client() as client:
        result = time_round_trips(client, n, "call", {"tool": hop.tool, "args": hop.args})
    return _checked(result, "membrane call")


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                await reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            writer.write(CANNED_REPLY)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client left, or the benchmark is over: either way this handler is done
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@contextlib.contextmanager
def echo_server(socket_path: Path) -> Iterator[Path]:
    """A trivial asyncio unix-socket server answering every line with `CANNED_REPLY`."""
    start: Callable[..., Awaitable[asyncio.AbstractServer]] = asyncio.start_unix_server
    with _loop_thread() as loop:
        server = _run(loop, start(_echo, path=str(socket_path)))
        try:
            yield socket_path
        finally:
            # Server methods belong to the loop's thread; closing from here raced the loop.
            _run(loop, _close_server(server))
            with contextlib.suppress(FileNotFoundError):
                socket_path.unlink()


async def _close_server(server: asyncio.AbstractServer) -> None:
    server.close()


#: Compact JWT lengths of real keys (about), so the floor moves as many bytes as a call.
_KEY_LIKE = "k" * 720


def measure_echo_floor(n: int = 2000) -> dict[str, float]:
    """p50/p99 (µs) of the same client's round trip, with a call-sized frame, against the
    echo server."""
    fields = {"tool": BENCH_TOOL, "args": {"token": "email_tk_" + "0" * 16,
                                           "value_sha256": "0" * 64}}
    with tempfile.TemporaryDirectory(prefix="silo-echo-") as tmp, \
            echo_server(Path(tmp) / "echo.sock") as path, \
            Client(str(path), base_key=_KEY_LIKE, task_key=_KEY_LIKE, timeout=30) as client:
        result = time_round_trips(client, n, "call", fields)
    return _checked(result, "echo floor")
