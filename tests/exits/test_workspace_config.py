"""silo.toml parsing and workspace discovery: clear one-line errors, safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from siloos.errors import InputError, UsageError
from siloos.workspace import DEFAULT_LIMITS, Workspace, WorkspaceConfig


def test_defaults_when_tables_are_absent() -> None:
    cfg = WorkspaceConfig.parse("")
    assert cfg.limits == DEFAULT_LIMITS
    assert cfg.cell.interpreter == "/usr/bin/python3"
    assert cfg.cell.uid_base > 0
    assert cfg.llm.provider is None
    assert cfg.service_modules == ()


def test_values_are_read() -> None:
    cfg = WorkspaceConfig.parse(
        '[workspace]\nname = "acme"\n[services]\nmodules = ["exits.tickets"]\n'
        '[llm]\nprovider = "anthropic"\nmodel = "m"\n[cell]\nuid_base = 300000\n'
        '[limits]\nwall_seconds = 5\n')
    assert (cfg.name, cfg.service_modules, cfg.llm.provider, cfg.llm.model) == (
        "acme", ("exits.tickets",), "anthropic", "m")
    assert cfg.cell.uid_base == 300000
    assert cfg.limits["wall_seconds"] == 5 and cfg.limits["pids"] == DEFAULT_LIMITS["pids"]


@pytest.mark.parametrize("text, needle", [
    ("[limits\n", "not valid TOML"),
    ("services = 3\n", "must be a table"),
    ('[services]\nmodules = "exits.x"\n', "list of module names"),
    ("[limits]\nnope = 3\n", "unknown limit"),
    ("[limits]\nwall_seconds = 0\n", "positive integer"),
    ("[limits]\nwall_seconds = true\n", "positive integer"),
    ('[cell]\nuid_base = "x"\n', "must be integers"),
    ("[cell]\nuid_base = 0\n", "must be positive"),
])
def test_bad_config_is_an_input_error_naming_the_file(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as err:
        WorkspaceConfig.parse(text, path="ws/silo.toml")
    assert str(err.value).startswith("ws/silo.toml: ")
    assert "\n" not in str(err.value)


def test_find_walks_up_and_refuses_outside_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "silo.toml").write_text("")
    deep = tmp_path / "agents" / "x"
    deep.mkdir(parents=True)
    ws = Workspace.find(deep)
    assert ws.root == tmp_path.resolve()
    assert ws.keys_dir == ws.root / ".silo" / "keys"
    assert ws.state_db.name == "state.db" and ws.backoffice_db.name == "backoffice.db"
    with pytest.raises(UsageError, match="silo init"):
        Workspace.load(tmp_path / "agents")
