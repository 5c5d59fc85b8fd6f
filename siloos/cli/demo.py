"""`silo demo`: the offline walk-through a newcomer runs first (`make demo`).

Today it shows the agent-folder life cycle in a throwaway workspace: init → new agent →
lint → pack, saying what each step did in plain lines. It calls the same functions the
commands call, so what it shows is what the commands do.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import typer

from siloos.agent.pack import pack_agent
from siloos.agent.scaffold import new_agent
from siloos.cli.init import init_workspace
from siloos.errors import CheckFailed
from siloos.workspace import Workspace

DEMO_AGENT = "hello-agent"


def run_demo(base: Path, say: Callable[[str], None] = print) -> Path:
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
    return pack.path


def register(app: typer.Typer) -> None:
    """Add `silo demo` to the app."""

    @app.command("demo")
    def demo_command(
        keep: bool = typer.Option(False, "--keep",
                                  help="Keep the temporary workspace and print where it is."),
    ) -> None:
        """Walk through init → new agent → lint → pack in a temporary workspace."""
        if keep:
            base = Path(tempfile.mkdtemp(prefix="silo-demo-"))
            run_demo(base)
            print(f"Kept the demo workspace in {base}")
            return
        with tempfile.TemporaryDirectory(prefix="silo-demo-") as tmp:
            run_demo(Path(tmp))
        print("Done; the temporary workspace was removed (use --keep to look at it).")
