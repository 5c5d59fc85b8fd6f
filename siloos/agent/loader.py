"""Loading an agent folder into an `Agent`, refusing invalid manifests (design §3, §4).

`load_agent` is what `silo run` and `silo pack` use: it runs the *blocking* lint rules
(bad frontmatter, unknown exit, wrong-typed constraint, bad limits...) and raises one
`ManifestError` with file and line for the first problem, so lint and the runtime can
never disagree about what a valid manifest is. Advisory rules (links, code, personal
data, missing templates) are `silo lint`'s business, not the loader's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from siloos.agent.errors import ManifestError
from siloos.agent.lint import manifest_rules, procedure_rules
from siloos.agent.lint.base import Hit, LintContext, ProcedureUnit, Rule
from siloos.agent.lint.targets import load_agent_unit, load_procedure_unit
from siloos.agent.manifest import Agent, Procedure
from siloos.exits import Registry
from siloos.workspace import DEFAULT_LIMITS

_AGENT_RULES = tuple(r for r in manifest_rules.RULES if r.blocking)
_PROCEDURE_RULES = tuple(r for r in procedure_rules.RULES if r.blocking)


def _refuse_on(rules: Iterable[Rule], unit: Any, ctx: LintContext) -> None:
    hits: list[tuple[Hit, str]] = [(hit, rule.id) for rule in rules
                                   for hit in rule.check(unit, ctx)]
    if not hits:
        return
    hit, rule_id = min(hits, key=lambda pair: (pair[0].line, pair[1]))
    more = f" (and {len(hits) - 1} more; run `silo lint`)" if len(hits) > 1 else ""
    raise ManifestError(f"{rule_id} {hit.message}{more}", path=hit.path, line=hit.line)


def _context(agent_dir: Path, registry: Registry) -> LintContext:
    return LintContext(registry=registry, workspace_root=None, link_root=agent_dir,
                       known_agents=frozenset())


def _markdown_files(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.glob("*.md") if p.is_file()))


def _procedure_from(unit: ProcedureUnit) -> Procedure:
    assert unit.doc is not None and isinstance(unit.doc.data, dict)
    data = unit.doc.data
    return Procedure(path=unit.path, name=data["name"], description=data["description"],
                     uses=tuple(data.get("uses") or ()), when=data.get("when"),
                     body=unit.doc.body)


def load_procedure(path: Path, registry: Registry | None = None) -> Procedure:
    """Load one procedure file (frontmatter per design §3.2); raises ManifestError."""
    path = Path(path)
    unit = load_procedure_unit(path, agent=None)
    _refuse_on(_PROCEDURE_RULES, unit, _context(path.parent, registry or Registry.builtin()))
    return _procedure_from(unit)


def load_agent(agent_dir: Path, registry: Registry | None = None, *,
               default_limits: Mapping[str, int] | None = None) -> Agent:
    """Load and validate an agent folder; raises ManifestError (file and line) if invalid.

    Capabilities are checked against `registry`; without one, against the built-in exits
    only (fail closed: an exit nobody registered is never granted by default). Limits the
    manifest leaves out come from `default_limits` (the workspace's `[limits]`), else from
    `DEFAULT_LIMITS`, so every caller (run, keys mint) sees the same effective limits.
    """
    agent_dir = Path(agent_dir)
    if not agent_dir.is_dir():
        raise ManifestError("not an agent folder (expected a folder with AGENT.md)",
                            path=agent_dir)
    registry = registry or Registry.builtin()
    ctx = _context(agent_dir, registry)
    unit = load_agent_unit(agent_dir)
    _refuse_on(_AGENT_RULES, unit, ctx)
    data = unit.data
    assert data is not None and unit.doc is not None  # the blocking rules guarantee it

    procedures = []
    for path in _markdown_files(agent_dir / "procedures"):
        proc_unit = load_procedure_unit(path, agent=unit)
        _refuse_on(_PROCEDURE_RULES, proc_unit, ctx)
        procedures.append(_procedure_from(proc_unit))

    limits = dict(DEFAULT_LIMITS)
    limits.update(default_limits or {})
    limits.update(data.get("limits") or {})
    capabilities = {name: dict(constraints or {})
                    for name, constraints in (data.get("capabilities") or {}).items()}
    return Agent(
        dir=agent_dir,
        name=data["name"],
        description=data["description"],
        version=data["version"],
        model=data.get("model"),
        capabilities=capabilities,
        escalate_to=tuple(data.get("escalate_to") or ()),
        limits=limits,
        body=unit.doc.body,
        policies=_markdown_files(agent_dir / "policies"),
        procedures=tuple(procedures),
        examples=_markdown_files(agent_dir / "examples"),
        templates=_markdown_files(agent_dir / "templates"),
        extra={k: v for k, v in data.items() if k not in manifest_rules.MANIFEST_KEYS},
        declared_limits=dict(data.get("limits") or {}),
    )
