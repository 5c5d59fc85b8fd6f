"""A SiloOS workspace: the folder holding `silo.toml`, its agents and its `.silo/` state.

This module owns where things live (design §3, §11) and the parsed workspace config.
It creates nothing; `silo init` (siloos.cli.init) does that.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.errors import InputError, UsageError

CONFIG_NAME = "silo.toml"

#: Limits applied when a manifest leaves one out (design §3.1 names them all).
DEFAULT_LIMITS: dict[str, int] = {
    "wall_seconds": 60,
    "memory_mb": 256,
    "pids": 32,
    "tmp_mb": 16,
    "tool_calls": 50,
    "llm_calls": 20,
    "llm_tokens": 200000,
}


@dataclass(frozen=True)
class CellConfig:
    """How cells are built on this host ([cell] in silo.toml)."""

    interpreter: str = "/usr/bin/python3"
    uid_base: int = 200_000
    uid_count: int = 10_000
    nsjail: str | None = None


@dataclass(frozen=True)
class LLMConfig:
    """Which model provider the membrane calls ([llm] in silo.toml)."""

    provider: str | None = None
    model: str = "claude-sonnet-4-5"


@dataclass(frozen=True)
class WorkspaceConfig:
    """The parsed `silo.toml`."""

    name: str = "workspace"
    service_modules: tuple[str, ...] = ()
    llm: LLMConfig = field(default_factory=LLMConfig)
    cell: CellConfig = field(default_factory=CellConfig)
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @classmethod
    def parse(cls, text: str, *, path: Path | str = CONFIG_NAME) -> WorkspaceConfig:
        """Parse silo.toml text; any shape error is an InputError naming the file."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"not valid TOML: {err}", path=path) from None
        return cls.from_dict(data, path=path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | str = CONFIG_NAME) -> WorkspaceConfig:
        def table(name: str) -> dict[str, Any]:
            value = data.get(name, {})
            if not isinstance(value, dict):
                raise InputError(f"[{name}] must be a table", path=path)
            return value

        ws, services, llm, cell, limits = (
            table("workspace"), table("services"), table("llm"), table("cell"), table("limits")
        )
        modules = services.get("modules", [])
        if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
            raise InputError("[services] modules must be a list of module names", path=path)
        merged = dict(DEFAULT_LIMITS)
        for key, value in limits.items():
            if key not in DEFAULT_LIMITS:
                raise InputError(f"[limits] unknown limit {key!r}", path=path)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"[limits] {key} must be a positive integer", path=path)
            merged[key] = value
        try:
            cell_cfg = CellConfig(
                interpreter=str(cell.get("interpreter", CellConfig.interpreter)),
                uid_base=int(cell.get("uid_base", CellConfig.uid_base)),
                uid_count=int(cell.get("uid_count", CellConfig.uid_count)),
                nsjail=str(cell["nsjail"]) if cell.get("nsjail") else None,
            )
        except (TypeError, ValueError):
            raise InputError("[cell] uid_base and uid_count must be integers", path=path) from None
        if cell_cfg.uid_base <= 0 or cell_cfg.uid_count <= 0:
            # A cell must never run as uid 0 outside the jail.
            raise InputError("[cell] uid_base and uid_count must be positive", path=path)
        provider = llm.get("provider")
        return cls(
            name=str(ws.get("name", "workspace")),
            service_modules=tuple(modules),
            llm=LLMConfig(
                provider=str(provider) if provider else None,
                model=str(llm.get("model", LLMConfig.model)),
            ),
            cell=cell_cfg,
            limits=merged,
        )


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace plus its config. Cheap to build; touches no state."""

    root: Path
    config: WorkspaceConfig

    @classmethod
    def load(cls, root: Path | str) -> Workspace:
        root = Path(root).resolve()
        cfg_path = root / CONFIG_NAME
        try:
            text = cfg_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{root} is not a SiloOS workspace (no {CONFIG_NAME}); "
                             "run `silo init`") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read: {err}", path=cfg_path) from None
        return cls(root=root, config=WorkspaceConfig.parse(text, path=cfg_path))

    @classmethod
    def find(cls, start: Path | str | None = None) -> Workspace:
        """The workspace containing `start` (default: the current directory)."""
        here = Path(start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIG_NAME).is_file():
                return cls.load(candidate)
        raise UsageError(f"no {CONFIG_NAME} in {here} or its parents; run `silo init` first")

    # Layout (design §3). Kept as properties so there is one place that knows it.
    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def procedures_dir(self) -> Path:
        return self.root / "procedures"

    @property
    def workflows_dir(self) -> Path:
        return self.root / "workflows"

    @property
    def recordings_dir(self) -> Path:
        return self.root / "recordings"

    @property
    def exits_dir(self) -> Path:
        return self.root / "exits"

    @property
    def state_dir(self) -> Path:
        return self.root / ".silo"

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def backoffice_db(self) -> Path:
        return self.state_dir / "backoffice.db"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def packs_dir(self) -> Path:
        return self.state_dir / "packs"

    @property
    def run_dir(self) -> Path:
        """Where per-run sockets and staged cell folders are made (traversable by cell uids)."""
        return self.state_dir / "run"
