"""`silo demo`: the offline walk-through a newcomer runs first (`make demo`).

In a throwaway workspace it shows the agent-folder life cycle (init → new agent → lint →
pack), then the shipped refund scenario end to end, offline: the example agents run in
real nsjail cells behind the membrane, with scripted model replies — a 120.00 refund done
by `refund-agent`, and a 750.00 refund it hands off (301) to `manager-agent`. Last, it
checks every byte SiloOS stored for the customer's real values. It calls the same
functions the commands call, so what it shows is what the commands do.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import typer

from siloos.agent.pack import pack_agent
from siloos.agent.scaffold import new_agent
from siloos.errors import CheckFailed
from siloos.workspace import Workspace
from siloos.workspace_init import init_workspace

DEMO_AGENT = "hello-agent"


def run_demo(base: Path, say: Callable[[str], None] = print, *, refunds: bool = True) -> Path:
    """Run the walk-through under `base`; returns the pack it wrote."""
    from siloos.agent.lint import lint_paths
    from siloos.exits import Registry

    root = base / "workspace"
    result = init_workspace(root, name="demo")
    keys = sorted(p.name for p in (root / ".silo" / "keys").iterdir())
    say(f"1. silo init: created a workspace in {root}")
    say(f"   with agents/, procedures/, workflows/, recordings/, exits/ and "
        f"{len(keys)} key files in .silo/keys/ (folder 0700, files 0600)")

    ws = Workspace.load(result.root)
    made = new_agent(ws.agents_dir, DEMO_AGENT, limits=ws.config.limits)
    agent_dir = ws.agents_dir / DEMO_AGENT
    say(f"2. silo new agent {DEMO_AGENT}: rendered {len(made)} files from templates/ "
        "(AGENT.md, main.py, a policy, a procedure, an example, a message template)")

    findings = lint_paths([agent_dir], registry=Registry.for_workspace(ws), strict=True,
                          workspace_root=ws.root)
    if findings:
        first = findings[0]
        raise CheckFailed(f"demo: the scaffolded agent does not lint clean: "
                          f"{first.path}:{first.line}: {first.rule} {first.message}")
    say(f"3. silo lint --strict agents/{DEMO_AGENT}: no findings")

    out_dir = base / "packs"
    pack = pack_agent(agent_dir, out_dir)
    again = pack_agent(agent_dir, base / "packs-again")
    say(f"4. silo pack agents/{DEMO_AGENT}: wrote {pack.path.name}")
    say(f"   sha256 {pack.sha256}")
    same = "the same bytes" if again.sha256 == pack.sha256 else "DIFFERENT bytes"
    say(f"   packing it a second time gave {same}: the digest names this agent version")
    if again.sha256 != pack.sha256:
        raise CheckFailed("demo: packing the same folder twice gave different bytes")
    if refunds:
        run_refund_scenario(ws, say)
    return pack.path


SCENARIOS = (
    ("a 120.00 refund, within refund-agent's limit",
     "My Burr espresso grinder arrived broken. Please refund the 120.00."),
    ("a 750.00 refund, above refund-agent's 500 limit",
     "The Walnut standing desk arrived with a cracked top. I want my 750.00 back."),
)
DEMO_CUSTOMER = "C-1001"


def _repo_root() -> Path:
    import siloos

    return Path(siloos.__file__).resolve().parent.parent


def run_refund_scenario(ws: Workspace, say: Callable[[str], None] = print) -> None:
    """Run the example agents on the demo back office; raises if anything is off."""
    import shutil

    from siloos.backoffice import BackOffice
    from siloos.router.run import run_task
    from siloos.router.runtime import Runtime

    repo = _repo_root()
    for name in ("refund-agent", "manager-agent"):
        src = repo / "agents" / name
        if not (src / "AGENT.md").is_file():
            raise CheckFailed(f"demo: the example agent {name} is missing from {repo / 'agents'}")
        shutil.copytree(src, ws.agents_dir / name)
    for proc in sorted((repo / "procedures").glob("*.md")):
        shutil.copy2(proc, ws.procedures_dir / proc.name)
    with BackOffice.open(ws.backoffice_db) as office:
        counts = office.seed_demo()
        customer = office.get_customer(DEMO_CUSTOMER)
    say(f"5. silo data import: the demo back office holds {counts.get('customers', 0)} "
        f"customers and {counts.get('orders', 0)} orders (.silo/backoffice.db)")
    script = repo / "siloos" / "demo"
    rt = Runtime.open(ws, llm_spec=f"scripted:{script}")
    try:
        for step, (title, message) in enumerate(SCENARIOS, start=6):
            say(f"{step}. silo run agents/refund-agent --customer {DEMO_CUSTOMER} "
                f"--llm scripted:siloos/demo: {title}")
            say(f'   message: "{message}"')
            result = run_task(rt, ws.agents_dir / "refund-agent", customer=DEMO_CUSTOMER,
                              message=message)
            for hop in result.hops:
                summary = hop["summary"] or {}
                said = ", ".join(f"{k}={v}" for k, v in sorted(summary.items()))
                say(f"   hop {hop['hop']}: {hop['agent']} finished {hop['status']} ({said})")
            calls = [e for e in result.events if e["op"] == "call"]
            refused = [e for e in calls if not e["ok"]]
            say(f"   the membrane checked {len(result.events)} requests "
                f"({len(calls)} exit calls, {len(refused)} refused), every one audited")
            if result.state != "done":
                raise CheckFailed(f"demo: task {result.task_id} ended {result.state}: "
                                  f"{result.summary}")
            say(f"   task {result.task_id}: {result.state}")
    finally:
        rt.close()
    with BackOffice.open(ws.backoffice_db) as office:
        sent = office.outbox()
        refunds = office.refunds()
    amounts = ", ".join(f"{float(r['amount']):.2f}" for r in refunds)
    say(f"8. the back office issued {len(refunds)} refunds ({amounts}) and sent "
        f"{len(sent)} emails, hydrated outside the cells:")
    for mail in sent:
        say(f"   to {mail['to']}: {mail['subject']}")
    leaks = _plaintext_leaks(ws, customer)
    if leaks:
        raise CheckFailed("demo: plaintext personal data found in SiloOS state: "
                          + ", ".join(leaks))
    say("9. privacy check: none of the customer's real values (name, email, phone, address, "
        "date of birth, customer and order ids) appears in .silo/state.db, .silo/journal/ "
        "or .silo/logs/")


def _plaintext_leaks(ws: Workspace, customer: dict[str, object]) -> list[str]:
    """Which of the customer's real values appear in any byte SiloOS stored."""
    import sqlite3

    con = sqlite3.connect(ws.state_db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    blobs = [p.read_bytes() for p in ws.state_dir.glob("state.db*") if p.is_file()]
    blobs += [p.read_bytes() for p in ws.logs_dir.rglob("*") if p.is_file()]
    # A hop's audit rows wait here before they are folded into state.db.
    blobs += [p.read_bytes() for p in (ws.state_dir / "journal").glob("*") if p.is_file()]
    data = b"\n".join(blobs).lower()
    values = {k: str(customer[k]) for k in ("customer", "name", "email", "phone", "address",
                                             "dob")}
    values["order"] = "O-5001"
    leaks = []
    for field, value in values.items():
        needles = {value.lower()}
        if field == "phone":
            needles.add("".join(ch for ch in value if ch.isdigit()))
        if field == "name":
            needles.update(part.lower() for part in value.split() if len(part) > 3)
        if any(n.encode() in data for n in needles if n):
            leaks.append(field)
    return leaks


def register(app: typer.Typer) -> None:
    """Add `silo demo` to the app."""

    @app.command("demo")
    def demo_command(
        keep: bool = typer.Option(False, "--keep",
                                  help="Keep the temporary workspace and print where it is."),
    ) -> None:
        """Walk through init → new → lint → pack, then the refund scenario, offline."""
        if keep:
            base = Path(tempfile.mkdtemp(prefix="silo-demo-"))
            run_demo(base)
            print(f"Kept the demo workspace in {base}")
            return
        with tempfile.TemporaryDirectory(prefix="silo-demo-") as tmp:
            run_demo(Path(tmp))
        print("Done; the temporary workspace was removed (use --keep to look at it).")
