"""A real membrane serving one bench hop: what `membrane_call_us` is measured against.

`bench_hop(root, calls)` makes a throwaway state under `root` — a keyring, vault keys, a
state store, one customer in the vault, a running task and hop, a base key and a task key
for `BENCH_AGENT` granting only `identity.verify` — and serves the hop's `Membrane` on a
unix socket from its own event-loop thread. Every request the bench sends is a real `call`:
both keys verified, the token's scope checked and resolved, the argument hydrated, the
result tokenized, an audit row written. `BenchHop` gives the socket, keys and the call
(tool and arguments) to whoever times it: the timing client in a cell, or this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.bench.agents import BENCH_AGENT
from siloos.bench.agents.timing.main import WARMUP
from siloos.bench.loop_thread import loop_thread, run_on
from siloos.exits import Registry
from siloos.keys.keyring import KeyRing, create_keyring
from siloos.keys.mint import mint_hop_base_key, mint_task_key
from siloos.keys.verify import KeyVerifier
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession
from siloos.privacy.keyfiles import create_vault_keys
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.vault import Vault
from siloos.router.runtime import open_guarded_store
from siloos.workspace import DEFAULT_LIMITS

#: A cheap built-in exit that still runs every check of the call path.
BENCH_TOOL = "identity.verify"
BENCH_CUSTOMER = "bench-customer"
BENCH_EMAIL = "bench.customer@example.com"


@dataclass
class BenchHop:
    """One running hop and its membrane listening on `socket_path`."""

    socket_path: Path
    base_key: str
    task_key: str
    task_id: str
    args: dict[str, Any]
    membrane: Membrane
    #: The event loop the membrane serves on (a cell may be run on it too, as in `silo run`).
    loop: asyncio.AbstractEventLoop

    @property
    def tool(self) -> str:
        return BENCH_TOOL

    def env(self) -> dict[str, str]:
        """A client's environment for this hop (the socket path as seen on the host)."""
        return {"SILO_MEMBRANE": str(self.socket_path), "SILO_BASE_KEY": self.base_key,
                "SILO_TASK_KEY": self.task_key, "SILO_TASK_ID": self.task_id}


@contextlib.contextmanager
def bench_hop(root: Path, calls: int) -> Iterator[BenchHop]:
    """Set up keys, state, vault and a hop under `root`, serve its membrane, yield it.

    The base key's `tool_calls` budget covers `calls` plus the timing client's warm-up, so
    every timed request is a real call, not a 429.
    """
    keys_dir = root / ".silo" / "keys"
    create_keyring(keys_dir)
    create_vault_keys(keys_dir)
    ring = KeyRing.load(keys_dir)
    store = open_guarded_store(root / ".silo" / "state.db")  # as a real hop's store
    try:
        vault = Vault(store.conn, keys_dir)
        scope = vault.scope_for(BENCH_CUSTOMER)
        email = vault.tokenize(BENCH_EMAIL, "email", scope)
        customer = vault.tokenize(BENCH_CUSTOMER, "cust", scope)
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
                              customer_id=BENCH_CUSTOMER, scope=scope,
                              task_payload={"task_id": task_id, "agent": BENCH_AGENT,
                                            "input": {}, "history": [], "outcomes": {}},
                              base_jti=base.jti, limits=limits)
        # identity.verify needs no host service; the membrane adds its own attempt memory.
        membrane = Membrane(session, verifier=KeyVerifier(ring.public_keys(), store),
                            registry=Registry.builtin(), store=store,
                            tokenizer=Tokenizer(vault))
        socket_path = root / "membrane.sock"
        with loop_thread() as loop:
            run_on(loop, membrane.start(socket_path))
            try:
                yield BenchHop(socket_path=socket_path, base_key=base.token,
                               task_key=minted.token, task_id=task_id, membrane=membrane,
                               loop=loop,
                               # The right answer: identity.verify stops answering a
                               # token after a few wrong guesses, and a bench never guesses.
                               args={"token": email, "value_sha256": hashlib.sha256(
                                   BENCH_EMAIL.encode()).hexdigest()})
            finally:
                run_on(loop, membrane.stop())
    finally:
        store.close()
