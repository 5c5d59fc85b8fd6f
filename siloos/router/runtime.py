"""Everything a running task needs from the host, opened once per `silo run` / dispatcher.

The `Runtime` owns the long-lived handles — state store, vault and tokenizer, back office,
keyring and verifier, exit registry, jail backend, LLM provider — so that the router's
hop loop only passes one object down. Opening a runtime checks the sandbox first: if the
cell cannot be built, nothing else is touched (fail closed, exit 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.backoffice import BackOffice
from siloos.cell import get_backend
from siloos.cell.backend import JailBackend
from siloos.exits import Registry
from siloos.keys import KeyRing, KeyVerifier
from siloos.privacy.guard import PlaintextGuard
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.vault import Vault
from siloos.sdk import SDK_DIR
from siloos.store import StateStore
from siloos.workspace import Workspace


@dataclass
class Runtime:
    """Host-side handles shared by every hop of every task in this process."""

    workspace: Workspace
    registry: Registry
    store: StateStore
    vault: Vault
    tokenizer: Tokenizer
    backoffice: BackOffice
    ring: KeyRing
    verifier: KeyVerifier
    backend: JailBackend
    llm: Any = None
    llm_log: Any = None

    @classmethod
    def open(cls, workspace: Workspace, *, unsafe_no_jail: bool = False,
             llm_spec: str | None = None) -> Runtime:
        """Open the runtime; raises SandboxUnavailable before touching any state."""
        backend = get_backend(workspace.config, unsafe_no_jail=unsafe_no_jail)
        registry = Registry.for_workspace(workspace)
        ring = KeyRing.load(workspace.keys_dir)
        workspace.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = open_guarded_store(workspace.state_db)
        vault = Vault(store.conn, workspace.keys_dir)
        tokenizer = Tokenizer(vault)
        backoffice = BackOffice.open(workspace.backoffice_db)
        verifier = KeyVerifier(ring.public_keys(), store)
        llm, llm_log = _open_llm(workspace, llm_spec)
        return cls(workspace=workspace, registry=registry, store=store, vault=vault,
                   tokenizer=tokenizer, backoffice=backoffice, ring=ring, verifier=verifier,
                   backend=backend, llm=llm, llm_log=llm_log)

    @property
    def sdk_dir(self) -> Path:
        """The SDK folder every cell of this runtime gets at `/opt/silo`."""
        return SDK_DIR

    def close(self) -> None:
        self.backoffice.close()
        self.store.close()


def open_guarded_store(path: Path) -> StateStore:
    """The state store as every hop writes to it. Defence in depth: whatever path forgot
    to tokenize, the store refuses to write a value that still looks like personal data
    (and the LLM log the same). `silo bench` opens its store here too, so the membrane it
    times pays for the same guard a real hop does."""
    return StateStore.open(path, guard=PlaintextGuard().store_hook())


def _open_llm(workspace: Workspace, llm_spec: str | None) -> tuple[Any, Any]:
    spec = llm_spec or workspace.config.llm.provider
    if not spec:
        return None, None
    from siloos.llm import get_provider
    from siloos.llm.log import LLMLog

    return (get_provider(spec, workspace.config, root=workspace.root),
            LLMLog(workspace.logs_dir, guard=PlaintextGuard().log_check))
