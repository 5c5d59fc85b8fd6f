"""Shared fixtures for the membrane and SDK tests: a real hop to talk to.

Real parts throughout: an Ed25519 keyring and real base/task keys (siloos.keys), a real
StateStore with its audit and revocations, a real Vault with real tokens, the real demo
back office and the built-in exits. Imported by the other test_membrane_* / test_sdk_*
modules; holds no tests itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.backoffice import BackOffice
from siloos.exits import ExitContext, ExitServices, Registry, exit
from siloos.exits.registry import BUILTIN_MODULES, _collect_modules
from siloos.keys.keyring import KeyRing, create_keyring
from siloos.keys.mint import mint_hop_base_key, mint_task_key
from siloos.keys.verify import KeyVerifier
from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession
from siloos.privacy.keyfiles import create_vault_keys
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.vault import Vault
from siloos.store import StateStore

AGENT = "refund-agent"
CUSTOMER = "C-1001"
OTHER_CUSTOMER = "C-1002"
DIGEST = "cd" * 32
CAPS: dict[str, dict[str, Any]] = {
    "customers.get": {}, "orders.list": {}, "orders.get": {},
    "refunds.issue": {"max_amount": 500},
    "email.send": {"templates": ["refund-confirmation"]},
    "identity.verify": {}, "tests.boom": {}, "tests.echo": {},
}
LIMITS = {"wall_seconds": 60, "memory_mb": 256, "pids": 32, "tmp_mb": 16, "tool_calls": 50,
          "llm_calls": 20, "llm_tokens": 200000}


@exit("tests.boom")
def boom(ctx: ExitContext, note: str = "") -> dict[str, Any]:
    """An exit with a bug; its message carries a real customer id."""
    raise RuntimeError(f"database exploded for {ctx.customer_id}")


@exit("tests.echo", hydrate=("customer",), pii={"customer": "cust"}, scope="customer")
def echo(ctx: ExitContext, customer: str, text: str = "") -> dict[str, Any]:
    """A cheap exit: returns the hydrated customer (tokenized again) and some text."""
    return {"customer": customer, "text": text, "seq": ctx.call_seq}


@exit("tests.tickets", constraints={"queues": ("queue", "in")})
def tickets(ctx: ExitContext, title: str, queue: str = "") -> dict[str, Any]:
    """An operator-style exit whose constrained argument is optional (§11.1's example)."""
    return {"ticket": f"T-{ctx.call_seq}", "queue": queue}


def test_registry() -> Registry:
    return Registry([*_collect_modules(BUILTIN_MODULES), boom.__silo_exit__,
                     echo.__silo_exit__, tickets.__silo_exit__])


test_registry.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test

@dataclass
class Hop:
    """Everything one test needs about the running hop."""

    root: Path
    ring: KeyRing
    store: StateStore
    vault: Vault
    backoffice: BackOffice
    registry: Registry
    verifier: KeyVerifier
    tokenizer: Tokenizer
    task_id: str
    scope: str
    base_key: str
    #: The jti of `base_key`, the one base key the hop's membrane accepts.
    base_jti: str
    task_key: str
    task_jti: str
    tokens: dict[str, str]
    other_tokens: dict[str, str]
    membrane: Membrane
    services: ExitServices = field(default_factory=ExitServices)

    def frame(self, op: str, request_id: int | str = 1, **fields: Any) -> bytes:
        body = {"v": 1, "id": request_id, "op": op, "base_key": self.base_key,
                "task_key": self.task_key, **fields}
        return (json.dumps(body) + "\n").encode()

    def send(self, op: str, request_id: int | str = 1, **fields: Any) -> dict[str, Any]:
        return json.loads(self.membrane.handle_line(self.frame(op, request_id, **fields)))

    def call(self, tool: str, request_id: int | str = 1, **args: Any) -> dict[str, Any]:
        return self.send("call", request_id, tool=tool, args=args)

    def audit(self) -> list[dict[str, Any]]:
        return self.store.audit_events(self.task_id)

    def last_audit(self) -> dict[str, Any]:
        return self.audit()[-1]


def write_agent(root: Path) -> Path:
    agent_dir = root / "agents" / AGENT
    (agent_dir / "templates").mkdir(parents=True)
    (agent_dir / "templates" / "refund-confirmation.md").write_text(
        "---\nsubject: Your refund\n---\nHello {{ name }}, your refund of {{ amount }} is on "
        "its way.\n")
    (agent_dir / "templates" / "secret-offer.md").write_text("---\nsubject: x\n---\nHi\n")
    return agent_dir


def make_hop(root: Path, *, caps: dict[str, Any] | None = None,
             limits: dict[str, int] | None = None, narrow: dict[str, Any] | None = None,
             services: dict[str, Any] | None = None) -> Hop:
    """A workspace with keys, state, vault and back office, one task at hop 1, a membrane.

    `services` names `ExitServices` fields to set besides the back office (`{"llm": m}`)."""
    keys_dir = root / ".silo" / "keys"
    create_keyring(keys_dir)
    create_vault_keys(keys_dir)
    ring = KeyRing.load(keys_dir)
    store = StateStore.open(root / ".silo" / "state.db")
    vault = Vault(store.conn, keys_dir)
    backoffice = BackOffice.open(root / ".silo" / "backoffice.db")
    backoffice.seed_demo()
    scope = vault.scope_for(CUSTOMER)
    other_scope = vault.scope_for(OTHER_CUSTOMER)
    tokens = {
        "cust": vault.tokenize(CUSTOMER, "cust", scope),
        "ord": vault.tokenize("O-5001", "ord", scope),         # 120.00, delivered
        "ord_big": vault.tokenize("O-5002", "ord", scope),     # 750.00, delivered
        "email": vault.tokenize("odalys.fernwhistle@example.com", "email", scope),
        "name": vault.tokenize("Odalys Fernwhistle", "name", scope),
    }
    other_tokens = {
        "cust": vault.tokenize(OTHER_CUSTOMER, "cust", other_scope),
        "ord": vault.tokenize("O-5004", "ord", other_scope),
        "email": vault.tokenize("t.quennell-marsh@example.net", "email", other_scope),
    }
    task_id = store.create_task(agent=AGENT, customer_scope=scope,
                                customer_token=tokens["cust"], input={"message": "hi"},
                                state="running")
    base = mint_hop_base_key(ring, agent=AGENT, version="1.0.0", digest=DIGEST,
                             caps=caps if caps is not None else CAPS,
                             escalate_to=["manager-agent", "human"],
                             limits=limits if limits is not None else LIMITS)
    minted = mint_task_key(ring, agent=AGENT, task_id=task_id, hop=1,
                           customer_token=tokens["cust"], case_token=None, wall_seconds=60,
                           narrow=narrow, caps=caps if caps is not None else CAPS)
    store.start_hop(task_id, 1, AGENT, minted.jti)
    registry = test_registry()
    verifier = KeyVerifier(ring.public_keys(), store)
    tokenizer = Tokenizer(vault)
    agent_dir = write_agent(root)
    session = CellSession(
        task_id=task_id, hop=1, agent=AGENT, agent_dir=agent_dir, customer_id=CUSTOMER,
        scope=scope,
        task_payload={"task_id": task_id, "agent": AGENT,
                      "input": {"message": f"refund please, {tokens['name']}",
                                "customer": tokens["cust"]},
                      "history": [], "outcomes": {"200": "done"}},
        base_jti=base.jti, limits=limits if limits is not None else LIMITS, workspace_root=root)
    all_services = ExitServices(**{"backoffice": backoffice, **(services or {})})
    membrane = Membrane(session, verifier=verifier, registry=registry, store=store,
                        tokenizer=tokenizer, services=all_services)
    return Hop(root=root, ring=ring, store=store, vault=vault, backoffice=backoffice,
               registry=registry, verifier=verifier, tokenizer=tokenizer, task_id=task_id,
               scope=scope, base_key=base.token, base_jti=base.jti, task_key=minted.token,
               task_jti=minted.jti,
               tokens=tokens, other_tokens=other_tokens, membrane=membrane,
               services=all_services)


class ServedMembrane:
    """The hop's membrane listening on a real unix socket, in an event loop thread."""

    def __init__(self, membrane: Membrane, socket_path: Path) -> None:
        self.membrane = membrane
        self.path = socket_path
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServedMembrane:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.membrane.start(self.path), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.membrane.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def served(hop: Hop, socket_path: Path) -> ServedMembrane:
    return ServedMembrane(hop.membrane, socket_path)


def lines(sock: Any, count: int) -> Iterator[dict[str, Any]]:
    """Read `count` reply lines from a connected socket."""
    reader = sock.makefile("rb")
    for _ in range(count):
        raw = reader.readline()
        assert raw, "membrane closed the connection"
        yield json.loads(raw)


def hop_with_exit(root: Path, spec: Any) -> Hop:
    """`make_hop` whose membrane also knows the exit `spec` (granted with no constraints)."""
    h = make_hop(root, caps={**CAPS, spec.name: {}})
    h.membrane.close_journal()  # one live membrane per hop
    h.membrane = Membrane(h.membrane.session, verifier=h.verifier,
                          registry=Registry([*test_registry(), spec]), store=h.store,
                          tokenizer=h.tokenizer, services=h.services)
    return h



@exit("test.say")
def say(ctx: ExitContext, text: str) -> dict[str, Any]:
    """Says `text` back: the same result for the same argument, call after call."""
    return {"said": text}
