"""load_agent / load_procedure: the typed model, and refusals with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from siloos.agent import ManifestError, load_agent, load_procedure
from siloos.errors import InputError
from siloos.exits import Registry
from siloos.workspace import DEFAULT_LIMITS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "workspace"


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "ws")
    return tmp_path / "ws" / "agents" / "refund-agent"


def write_manifest(agent: Path, old: str, new: str) -> None:
    path = agent / "AGENT.md"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(agent: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_agent(agent)
    return info.value


def test_loads_the_typed_model(agent: Path) -> None:
    loaded = load_agent(agent, Registry.builtin())
    assert loaded.name == "refund-agent"
    assert loaded.version == "1.0.0"
    assert loaded.model == "claude-sonnet-4-5"
    assert loaded.capabilities["refunds.issue"] == {"max_amount": 500}
    assert loaded.capabilities["llm"] == {}
    assert loaded.escalate_to == ("manager-agent", "human")
    assert loaded.limits == {**DEFAULT_LIMITS, "wall_seconds": 60, "memory_mb": 256}
    assert loaded.declared_limits == {"wall_seconds": 60, "memory_mb": 256}
    assert "## Purpose" in loaded.body and "---" not in loaded.body.splitlines()[0]
    assert [p.name for p in loaded.procedures] == ["issue-refund"]
    assert loaded.procedures[0].uses == ("orders.get", "refunds.issue", "email.send")
    assert [p.name for p in loaded.templates] == ["refund-confirmation.md", "refund-denied.md"]
    assert [p.name for p in loaded.policies] == ["limits.md"]
    assert [p.name for p in loaded.examples] == ["damaged-item.md"]
    assert loaded.extra == {}


def test_defaults_fill_missing_limits_and_model(agent: Path) -> None:
    write_manifest(agent, "model: claude-sonnet-4-5\n", "")
    write_manifest(agent, "limits:\n  wall_seconds: 60\n  memory_mb: 256\n", "")
    loaded = load_agent(agent)
    assert loaded.model is None and loaded.limits == DEFAULT_LIMITS


def test_unknown_exit_is_refused_with_its_line(agent: Path) -> None:
    write_manifest(agent, "  orders.get: {}", "  orders.delete: {}")
    err = refused(agent)
    assert isinstance(err, InputError) and err.exit_code == 2
    assert err.path == agent / "AGENT.md" and err.line == 8
    assert "SILO107" in str(err) and "orders.delete" in str(err)
    assert str(err).startswith(f"{agent / 'AGENT.md'}:8: ")


def test_wrong_typed_constraint_is_refused(agent: Path) -> None:
    write_manifest(agent, "{max_amount: 500}", "{max_amount: lots}")
    err = refused(agent)
    assert err.line == 10 and "max_amount" in str(err)


def test_exit_registered_by_the_workspace_is_accepted(agent: Path) -> None:
    write_manifest(agent, "  orders.get: {}", "  orders.delete: {}")
    refused(agent)  # built-ins only: fail closed
    from siloos.exits.spec import build_spec

    def delete(ctx: object, order: str) -> dict:
        return {}

    spec = build_spec(delete, "orders.delete", pii={}, hydrate=(), constraints={},
                      scope=None, kind="call")
    registry = Registry([*Registry.builtin(), spec])
    assert "orders.delete" in load_agent(agent, registry).capabilities


@pytest.mark.parametrize("text, line, words", [
    ("no frontmatter at all\n", 1, "frontmatter"),
    ("---\nname: x\n", 1, "never closed"),
    ("---\n- a\n- b\n---\n", 2, "mapping"),
    ("---\nname: [\n---\n", 3, "YAML"),
    ("---\nname: refund-agent\nname: again\n", 1, "never closed"),
    ("---\nname: refund-agent\ndescription: d\nversion: 1.0.0\nlimits: {pids: 1e999}\n---\n",
     5, "pids"),
    ("---\nname: refund-agent\ndescription: d\nversion: 1.0.0\nlimits: {pids: "
     + "9" * 5000 + "}\n---\n", 5, ""),
    ("---\na: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n---\n", 1, "name"),
    ("---\nname: " + "[" * 2000 + "\n---\n", 2, "YAML"),
])
def test_malformed_manifests_give_one_line_errors(agent: Path, text: str, line: int,
                                                  words: str) -> None:
    (agent / "AGENT.md").write_text(text, encoding="utf-8")
    err = refused(agent)
    assert err.line == line, str(err)
    assert words in str(err)
    assert "\n" not in str(err)


def test_binary_and_missing_manifests(agent: Path) -> None:
    (agent / "AGENT.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "binary" in str(refused(agent))
    (agent / "AGENT.md").write_bytes(b"---\nname: caf\xe9\n---\n")
    assert "UTF-8" in str(refused(agent))
    (agent / "AGENT.md").unlink()
    assert "no AGENT.md" in str(refused(agent))
    with pytest.raises(ManifestError):
        load_agent(agent / "nope")


def test_duplicate_keys_are_refused(agent: Path) -> None:
    write_manifest(agent, "model: claude-sonnet-4-5", "model: a\ncapabilities: {}\nmodel: b")
    err = refused(agent)
    assert "duplicate key" in str(err)


def test_unknown_keys_are_kept_not_refused(agent: Path) -> None:
    write_manifest(agent, "model: claude", "team: payments\nmodel: claude")
    assert load_agent(agent).extra == {"team": "payments"}


def test_bad_procedure_makes_the_agent_invalid(agent: Path) -> None:
    proc = agent / "procedures" / "issue-refund.md"
    proc.write_text(proc.read_text().replace("uses: [orders.get,", "uses: {a: b}\nx: [1,"))
    err = refused(agent)
    assert err.path == proc


def test_load_procedure(agent: Path) -> None:
    proc = load_procedure(agent / "procedures" / "issue-refund.md")
    assert proc.name == "issue-refund" and proc.when and "`orders.get`" in proc.body
    bad = agent / "procedures" / "bad.md"
    bad.write_text("---\nname: bad\n---\n")
    with pytest.raises(ManifestError) as info:
        load_procedure(bad)
    assert info.value.line == 1 and "description" in str(info.value)


def test_workspace_limits_fill_what_the_manifest_leaves_out(agent: Path) -> None:
    # The same effective limits for every caller (`silo run`, `silo keys mint`): the
    # manifest's own values win, the workspace's [limits] come next, then the defaults.
    loaded = load_agent(agent, Registry.builtin(),
                        default_limits={**DEFAULT_LIMITS, "wall_seconds": 30, "pids": 8})
    assert loaded.limits["wall_seconds"] == 60      # the manifest says 60
    assert loaded.limits["pids"] == 8               # the workspace says 8
    assert loaded.limits["tool_calls"] == DEFAULT_LIMITS["tool_calls"]
