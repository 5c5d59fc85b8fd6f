"""Shared helpers for the cell tests: run a tiny main.py in a real nsjail cell.

Imported by the test_cell_* modules; holds no tests itself. A missing prerequisite (nsjail,
root, cgroups, the cell interpreter) makes every jail test FAIL with the doctor's reason —
never skip: a host where the cell cannot be built is a broken host, not an excuse.
"""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from siloos.cell.nsjail import NsjailBackend
from siloos.cell.preflight import run_checks
from siloos.cell.spec import CellResult, CellSpec

INTERPRETER = "/usr/bin/python3"
SDK_DIR = Path(__file__).resolve().parent.parent / "siloos" / "sdk"
CELL_UID = 201_777
SMALL_LIMITS = {"wall_seconds": 5, "memory_mb": 96, "pids": 16, "tmp_mb": 4}


@lru_cache(maxsize=1)
def _prerequisites() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ("jail tests must run as root (nsjail maps cell uids from root)",)
    results = run_checks(NsjailBackend(interpreter=INTERPRETER), INTERPRETER)
    return tuple(f"{r.name}: {r.detail} (fix: {r.fix})" for r in results if not r.ok)


def require_jail() -> None:
    """Fail (not skip) the calling test when this host cannot build a cell."""
    missing = _prerequisites()
    if missing:
        pytest.fail("cell prerequisites missing: " + "; ".join(missing), pytrace=False)


def make_agent(folder: Path, code: str) -> Path:
    """An agent folder holding `main.py` with `code` (dedented)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(textwrap.dedent(code))
    return folder


def run_cell(tmp_path: Path, code: str, *, limits: dict[str, int] | None = None,
             env: dict[str, str] | None = None, socket: Path | None = None,
             uid: int = CELL_UID, agent_dir: Path | None = None,
             output_cap: int | None = None) -> CellResult:
    """Run `code` as an agent's main.py in a real cell and return the result."""
    require_jail()
    agent = agent_dir if agent_dir is not None else make_agent(tmp_path / "agent", code)
    merged = dict(SMALL_LIMITS)
    merged.update(limits or {})
    extra = {"output_cap_bytes": output_cap} if output_cap else {}
    spec = CellSpec(agent_dir=agent, interpreter=INTERPRETER, uid=uid, limits=merged,
                    sdk_dir=SDK_DIR, env=env or {}, membrane_socket=socket, **extra)
    return asyncio.run(NsjailBackend(interpreter=INTERPRETER).run(spec))


def run_probe(tmp_path: Path, code: str, **kwargs: Any) -> Any:
    """Run `code`, which prints one JSON document as its last line; return it parsed."""
    result = run_cell(tmp_path, code, **kwargs)
    assert result.status == "exited" and result.exit_code == 0, \
        f"probe cell failed: {result.status} {result.exit_code}\n{result.stderr}\n{result.jail_log}"
    return json.loads(result.stdout.strip().splitlines()[-1])
