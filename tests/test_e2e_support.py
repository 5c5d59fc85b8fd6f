"""Shared helpers for the end-to-end tests (`test_e2e_*`): holds no tests itself.

A workspace made with `init_workspace`, seeded with the demo back office plus two canary
customers (imported through `silo data import`), with the test agents of
`tests/e2e_agents/` copied in; `silo` called as a real subprocess (real exit codes, real
stderr); and the canary machinery: plaintext spellings of every canary value for scanning
what SiloOS stored or sent, and the SHA-256 table the probe agent checks inside its cell.

Nothing here skips: a host that cannot build a cell makes the runs fail with `silo`'s own
one-line reason in the assertion message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siloos.backoffice import BackOffice
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace

AGENTS_SRC = Path(__file__).resolve().parent / "e2e_agents"
SILO = Path(sys.executable).with_name("silo")
#: A value placed in the probe's task on purpose, hashed into its table like a canary: the
#: probe must report finding it, which proves its in-cell scanner can fail.
CONTROL = "zanzibar-control-7781"
#: Planted in the host environment of `silo run`; no cell may ever see it.
PLANTED_API_KEY = "sk-ant-api03-e2e-canary-5f1d0c9a7b3e4d21"
#: Shaped like a key, placed in the probe's own folder on purpose (see make_workspace).
DECOY_KEY = "sk-ant-decoy-in-the-agent-folder"

RUN_KEYS = {"task_id", "agent", "status", "summary", "output", "redirect", "hops", "stdout",
            "stderr", "events"}
HOP_KEYS = {"hop", "agent", "status", "summary", "output", "key_jti", "started_at",
            "ended_at", "stdout", "stderr"}


@dataclass(frozen=True)
class Canary:
    """A customer whose every value is unique, so any sighting of it is a leak."""

    #: How findings name this customer (never a value of theirs: labels enter the cell).
    label: str
    id: str
    name: str
    email: str
    phone: str
    address: str
    dob: str
    orders: tuple[str, ...]
    #: Distinctive words of the address and name, each a leak on its own.
    words: tuple[str, ...]


ALICE = Canary(label="alice", id="C-CAN-7001", name="Quillon Vexmarrow",
               email="quillon.vexmarrow.c4n4ry@example.org", phone="+1 202-555-0199",
               address="77 Obsidian Hollow Road, Zyxbury, OR 97999", dob="1971-08-29",
               orders=("O-CAN-9001", "O-CAN-9002"),
               words=("quillon", "vexmarrow", "zyxbury", "obsidian hollow"))
BRUNO = Canary(label="bruno", id="C-CAN-7002", name="Ysolde Kravchenko-Pim",
               email="ysolde.kp.c4n4ry@example.net", phone="+44 7700 900871",
               address="5 Quarrington Mews, Leeds LS9 9ZZ", dob="1983-02-14",
               orders=("O-CAN-9101",),
               words=("ysolde", "kravchenko", "quarrington"))
CANARIES = (ALICE, BRUNO)
#: A Luhn-valid card number that is nowhere in the back office: only in a message.
CARD = "4539 1488 0343 6467"

#: Alice's message: her values in other spellings than the back office's.
ALICE_MESSAGE = (
    "Hi, it's Quillon Vexmarrow here (quillon.vexmarrow.c4n4ry@example.org). Call me on "
    "202 555 0199 or +1 (202) 555-0199. My card 4539-1488-0343-6467 was charged twice for "
    "order O-CAN-9001. I live at 77 Obsidian Hollow Road, Zyxbury, OR 97999, born 1971-08-29."
)
BRUNO_MESSAGE = "Hello, Ysolde Kravchenko-Pim writing; my number is +44 7700 900 871."


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def plaintext_needles(c: Canary) -> dict[str, set[str]]:
    """label → lowercase spellings whose presence anywhere is a leak."""
    return {
        "id": {c.id.lower()},
        "name": {c.name.lower(), *(w for w in c.words if " " not in w and w in c.name.lower())},
        "email": {c.email.lower(), c.email.split("@")[0].lower()},
        "phone": {c.phone.lower()},
        "address": {c.address.lower(), *(w for w in c.words if w not in c.name.lower())},
        "dob": {c.dob},
        "orders": {o.lower() for o in c.orders},
    }


def digit_needles(c: Canary) -> dict[str, set[str]]:
    """label → digit strings that must not appear in any run of digits and separators."""
    phone = digits(c.phone)
    return {"phone": {phone, phone[-10:] if len(phone) > 10 else phone, phone[-9:]},
            "dob": {digits(c.dob)}}


def leaks(data: bytes | str, canaries: tuple[Canary, ...] = CANARIES) -> list[str]:
    """Which canary values appear in `data`, in any of the spellings we know."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    low = text.lower()
    runs = [digits(r) for r in re.findall(r"\d[\d \-().+/]{4,}\d", text)]
    found = []
    for c in canaries:
        for label, needles in plaintext_needles(c).items():
            if any(n in low for n in needles):
                found.append(f"{c.label}:{label}")
        for label, needles in digit_needles(c).items():
            if any(n in run for run in runs for n in needles):
                found.append(f"{c.label}:{label}-digits")
    card = digits(CARD)
    if card in low or CARD in low or any(card in run for run in runs):
        found.append("card")
    return sorted(set(found))


def canary_hashes(canaries: tuple[Canary, ...] = CANARIES) -> dict[str, str]:
    """sha256 of each normalized spelling → label: the probe's in-cell table."""
    table: dict[str, str] = {}

    def add(label: str, value: str) -> None:
        table[hashlib.sha256(value.encode("utf-8")).hexdigest()] = label

    for c in canaries:
        for label, needles in plaintext_needles(c).items():
            for n in needles:
                add(f"{c.label}:{label}", n)
        for label, needles in digit_needles(c).items():
            for n in needles:
                add(f"{c.label}:{label}", n)
    add("card", digits(CARD))
    add("control", CONTROL)
    add("api_key", PLANTED_API_KEY.lower())
    return table


def silo(ws: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `silo` CLI in the workspace."""
    assert SILO.is_file(), f"the silo entry point is missing at {SILO}"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SILO_")}
    full_env.update(env or {})
    return subprocess.run([str(SILO), *args], cwd=ws, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_json(ws: Path, *args: str, env: dict[str, str] | None = None,
             expect: int | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                 dict[str, Any]]:
    """`silo run ARGS --json`; the parsed object (asserting the exit code if given)."""
    proc = silo(ws, "run", *args, "--json", env=env)
    where = f"exit {proc.returncode}; stderr: {proc.stderr.strip()[-2000:]}"
    if expect is not None:
        assert proc.returncode == expect, where
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"silo run --json printed no JSON ({where}): "
                             f"{proc.stdout[:500]!r}") from None
    return proc, data


def customers_csv(canaries: tuple[Canary, ...]) -> str:
    lines = ["id,name,email,phone,address,dob"]
    for c in canaries:
        lines.append(f'{c.id},{c.name},{c.email},{c.phone},"{c.address}",{c.dob}')
    return "\n".join(lines) + "\n"


def orders_csv(canaries: tuple[Canary, ...]) -> str:
    lines = ["id,customer_id,item,amount,status,created_at"]
    for c in canaries:
        for i, order in enumerate(c.orders):
            lines.append(f"{order},{c.id},Canary teapot {i + 1},{40 + i}.50,delivered,"
                         "2025-03-02T10:15:00+00:00")
    return "\n".join(lines) + "\n"


def make_workspace(base: Path) -> Workspace:
    """A workspace with the demo back office, the canary customers and the test agents."""
    root = init_workspace(base / "ws", name="e2e").root
    ws = Workspace.load(root)
    with BackOffice.open(ws.backoffice_db) as office:
        office.seed_demo()
    for agent in sorted(AGENTS_SRC.iterdir()):
        if (agent / "AGENT.md").is_file():
            shutil.copytree(agent, ws.agents_dir / agent.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
    # A decoy the probe's key search must find, so that finding nothing else means something.
    (ws.agents_dir / "e2e-probe" / "decoy-key.txt").write_text(DECOY_KEY + "\n",
                                                                 encoding="utf-8")
    (ws.agents_dir / "e2e-probe" / "canaries.json").write_text(
        json.dumps(canary_hashes(), indent=0, sort_keys=True), encoding="utf-8")
    data = base / "data"
    data.mkdir()
    (data / "customers.csv").write_text(customers_csv(CANARIES), encoding="utf-8")
    (data / "orders.csv").write_text(orders_csv(CANARIES), encoding="utf-8")
    for table in ("customers", "orders"):
        proc = silo(root, "data", "import", table, str(data / f"{table}.csv"))
        assert proc.returncode == 0, proc.stderr
    return ws


def stored_bytes(ws: Workspace) -> dict[str, bytes]:
    """Every byte SiloOS keeps: state.db* after a WAL checkpoint, .silo/logs/*, and any
    audit journal left in .silo/journal/ (a hop's rows before they reach state.db)."""
    con = sqlite3.connect(ws.state_db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    files = [p for p in ws.state_dir.glob("state.db*") if p.is_file()]
    files += [p for p in ws.logs_dir.rglob("*") if p.is_file()]
    files += [p for p in (ws.state_dir / "journal").glob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in files)
    return {str(p.relative_to(ws.root)): p.read_bytes() for p in files}


def refunds_for(ws: Workspace, task_id: str) -> list[dict[str, Any]]:
    with BackOffice.open(ws.backoffice_db) as office:
        return [r for r in office.refunds() if r["task_id"] == task_id]


def outbox(ws: Workspace) -> list[dict[str, Any]]:
    with BackOffice.open(ws.backoffice_db) as office:
        return office.outbox()
