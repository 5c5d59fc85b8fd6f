"""`silo keys mint|inspect|revoke` (design §10): base keys from the command line.

`mint AGENT_DIR` prints a base key for the agent's current pack digest; `inspect JWT` shows a
key's header and claims without trusting them, plus whether the signature verifies with the
workspace keyring (exit 0 if it does, 1 if not); `revoke JTI` records a key id as revoked in
`.silo/state.db`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import typer

from siloos.errors import CheckFailed, UsageError
from siloos.exits import Registry
from siloos.keys.inspect import inspect_key
from siloos.keys.keyring import KeyRing
from siloos.keys.mint import DEFAULT_BASE_TTL_SECONDS, mint_base_key
from siloos.keys.revocations import InMemoryRevocations, SqliteRevocations, check_jti
from siloos.workspace import Workspace

keys_app = typer.Typer(help="Base keys: mint, inspect, revoke.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to the app."""
    app.add_typer(keys_app, name="keys")


def _workspace_for(path: Path | None) -> Workspace:
    """The workspace holding `path` if it is inside one, else the current directory's."""
    if path is not None:
        try:
            return Workspace.find(path)
        except UsageError:
            pass
    return Workspace.find()


@keys_app.command("mint")
def mint(
    agent_dir: Path = typer.Argument(..., help="The agent folder (with AGENT.md)."),
    ttl: int = typer.Option(DEFAULT_BASE_TTL_SECONDS, "--ttl", min=1,
                            help="Lifetime in seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print token and claims as JSON."),
) -> None:
    """Mint a base key for AGENT_DIR's current version (bound to its pack digest)."""
    if not (agent_dir / "AGENT.md").is_file():
        raise UsageError(f"{agent_dir} is not an agent folder (no AGENT.md)")
    from siloos.agent.loader import load_agent
    from siloos.agent.pack import agent_digest

    ws = _workspace_for(agent_dir)
    ring = KeyRing.load(ws.keys_dir)
    # The workspace's own exits count as known capabilities, as in `silo run`.
    agent = load_agent(agent_dir, Registry.for_workspace(ws), default_limits=ws.config.limits)
    digest = agent_digest(agent_dir)
    token = mint_base_key(ring, agent=agent.name, version=agent.version, digest=digest,
                          caps=agent.capabilities, escalate_to=list(agent.escalate_to),
                          limits=agent.limits, ttl_seconds=ttl)
    if as_json:
        from siloos.keys.inspect import peek

        _, claims = peek(token)
        typer.echo(json.dumps({"token": token, "kid": ring.kid, "claims": claims},
                              indent=2, sort_keys=True))
    else:
        typer.echo(token)


@keys_app.command("inspect")
def inspect(
    jwt_text: str = typer.Argument(..., metavar="JWT",
                                   help="A compact JWT, or - to read it from stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show a key's header and claims (untrusted) and whether its signature verifies."""
    if jwt_text == "-":
        jwt_text = sys.stdin.read(1024 * 1024)
    jwt_text = jwt_text.strip()
    try:
        ws: Workspace | None = Workspace.find()
    except UsageError:
        ws = None
    public_keys = KeyRing.load(ws.keys_dir).public_keys() if ws is not None else {}
    revocations = (SqliteRevocations(ws.state_db)
                   if ws is not None and ws.state_db.is_file() else InMemoryRevocations())
    report = inspect_key(jwt_text, public_keys, revocations, now=time.time())
    if ws is None and not report.signature_ok:
        report = dataclasses.replace(report, signature_reason="no workspace keyring found here")
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True, ensure_ascii=True))
    else:
        typer.echo("header: " + json.dumps(report.header, sort_keys=True, ensure_ascii=True))
        typer.echo("claims: " + json.dumps(report.claims, indent=2, sort_keys=True,
                                           ensure_ascii=True))
        typer.echo("signature: " + ("verified" if report.signature_ok
                                    else f"NOT verified ({report.signature_reason})"))
        typer.echo("accepted: " + ("yes" if report.accepted else
                                   f"no ({report.refusal_code}: {report.refusal_reason})"))
    if not report.signature_ok:
        raise CheckFailed("signature does not verify with the workspace keyring"
                          if ws is not None else "no workspace keyring to verify with")


@keys_app.command("revoke")
def revoke(
    jti: str = typer.Argument(..., help="The key id (jti claim) to revoke."),
    reason: str = typer.Option("revoked by operator", "--reason", help="Why (no personal data)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record JTI as revoked: the membrane refuses the key from then on (409)."""
    check_jti(jti)
    ws = Workspace.find()
    if not ws.state_dir.is_dir():
        raise UsageError(f"{ws.state_dir} is missing; run `silo init`")
    # Through the task store, the one writer of SiloOS state (its plaintext guard and
    # encoding apply); the membrane sees it on its next request.
    from siloos.store import StateStore

    store = StateStore.open(ws.state_db)
    try:
        added = store.revoke(jti, reason=reason)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"jti": jti, "revoked": True, "already_revoked": not added}))
    else:
        typer.echo(f"revoked {jti}" if added else f"{jti} was already revoked")
