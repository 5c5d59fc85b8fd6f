"""SILO6xx: workflows (`workflows/*.yaml`, design §8).

A workflow is `name`, `description`, `stages` (each `agent:` with optional `301:`/`302:`
maps of allowed targets → one-line descriptions, an optional `max_redirects` and
`narrow` constraints), `max_redirects` (default 3) and `on_error` (`400`/`500` → a human
pool, an agent, or `abort`). Status keys may be written as numbers or strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from siloos.agent.document import short
from siloos.agent.lint.base import (
    WARNING,
    DocumentUnit,
    Hit,
    LintContext,
    Rule,
    WorkflowUnit,
    error_hit,
)
from siloos.agent.lint.keys import (
    MappingKeyRule,
    RequiredDescriptionRule,
    RequiredNameRule,
    check_name_value,
    duplicate_key_hits,
)
from siloos.agent.manifest import LIMIT_MAX

WORKFLOW_KEYS = frozenset({"name", "description", "stages", "max_redirects", "on_error"})
STAGE_KEYS = frozenset({"agent", "name", "description", "301", "302", "max_redirects",
                        "narrow"})
ON_ERROR_KEYS = frozenset({"400", "500"})
ABORT = "abort"
#: `human` is the default queue; `human:<pool>` names a pool of people.
_HUMAN_POOL = re.compile(r"^human(:[a-z0-9]+(-[a-z0-9]+)*)?$")


def _stages(unit: WorkflowUnit) -> Iterator[tuple[int, dict[str, Any]]]:
    data = unit.data
    stages = data.get("stages") if data is not None else None
    if isinstance(stages, list):
        for index, stage in enumerate(stages):
            if isinstance(stage, dict):
                yield index, stage


def _target_problem(target: Any, ctx: LintContext, *, abort_ok: bool) -> str | None:
    if not isinstance(target, str):
        return f"target must be a name, got {short(target)}"
    if _HUMAN_POOL.match(target) or (abort_ok and target == ABORT):
        return None
    if check_name_value(target) is None and target in ctx.known_agents:
        return None
    allowed = "`human`, `human:<pool>`" + (", `abort`" if abort_ok else "")
    return f"target {short(target)} is not an agent of the workspace nor {allowed}"


class WorkflowFile(Rule):
    id = "SILO601"
    summary = "workflow file is unreadable, not valid YAML, not a mapping, or repeats a key"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            yield error_hit(unit.file, unit.error, "workflow")
            return
        if unit.doc is None:
            return
        if not isinstance(unit.doc.data, dict):
            yield Hit(unit.file, 1, "workflow must be a YAML mapping (name, description, "
                                    f"stages), got {type(unit.doc.data).__name__}")
        yield from duplicate_key_hits(unit.file, unit.doc)


class WorkflowName(RequiredNameRule):
    id = "SILO602"
    summary = "workflow name is missing, badly formed, or differs from the file name"
    unit = "workflow"

    def check_value(self, value: Any, unit: DocumentUnit) -> str | None:
        problem = super().check_value(value, unit)
        if problem is None and value != unit.file.stem:
            return f"name {value!r} must equal the file name {unit.file.stem!r}"
        return problem


class WorkflowDescription(RequiredDescriptionRule):
    id = "SILO603"
    summary = "workflow description is missing, empty or longer than 1024 characters"
    unit = "workflow"


class WorkflowStages(Rule):
    id = "SILO604"
    summary = "stages is missing or empty, or a stage is not a mapping with an `agent`"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        if data is None:
            return
        stages = data.get("stages")
        if not isinstance(stages, list) or not stages:
            yield Hit(unit.path, unit.line_of("stages"), "stages must be a non-empty list")
            return
        for index, stage in enumerate(stages):
            line = unit.line_of("stages", index)
            if not isinstance(stage, dict):
                yield Hit(unit.path, line, f"stage {index + 1} must be a mapping with `agent:`")
            elif not isinstance(stage.get("agent"), str):
                yield Hit(unit.path, line, f"stage {index + 1} needs `agent:` naming an agent")


class WorkflowStageAgent(Rule):
    id = "SILO605"
    summary = "a stage's agent is not an agent of the workspace"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        for index, stage in _stages(unit):
            agent = stage.get("agent")
            if isinstance(agent, str) and agent not in ctx.known_agents:
                yield Hit(unit.path, unit.line_of("stages", index, "agent"),
                          f"stage {index + 1}: agent {agent!r} is not in agents/")


class WorkflowRedirectTargets(Rule):
    id = "SILO606"
    summary = "a stage's 301/302 map is malformed or names an unknown target"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        for index, stage in _stages(unit):
            for key, targets in stage.items():
                if str(key) not in ("301", "302"):
                    continue
                line = unit.line_of("stages", index, str(key))
                if not isinstance(targets, dict):
                    yield Hit(unit.path, line, f"stage {index + 1}: {key} must map targets "
                                               "to one-line descriptions")
                    continue
                for target, why in targets.items():
                    tline = unit.line_of("stages", index, str(key), str(target))
                    problem = _target_problem(target, ctx, abort_ok=False)
                    if problem:
                        yield Hit(unit.path, tline, f"stage {index + 1}: {key} {problem}")
                    if not isinstance(why, str) or not why.strip() or "\n" in why.strip():
                        yield Hit(unit.path, tline, f"stage {index + 1}: {key} target "
                                                    f"{short(target)} needs a one-line "
                                                    "description")


def _redirect_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT_MAX:
        return f"max_redirects must be a non-negative integer, got {short(value)}"
    return None


class WorkflowMaxRedirects(Rule):
    id = "SILO607"
    summary = "max_redirects (workflow or stage) is not a non-negative integer"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        if data is None:
            return
        if "max_redirects" in data:
            problem = _redirect_problem(data["max_redirects"])
            if problem:
                yield Hit(unit.path, unit.line_of("max_redirects"), problem)
        for index, stage in _stages(unit):
            if "max_redirects" in stage:
                problem = _redirect_problem(stage["max_redirects"])
                if problem:
                    yield Hit(unit.path, unit.line_of("stages", index, "max_redirects"),
                              f"stage {index + 1}: {problem}")


class WorkflowOnError(MappingKeyRule):
    id = "SILO608"
    summary = "on_error is not a map of 400/500 to a human pool, an agent or `abort`"
    unit = "workflow"
    key = "on_error"
    not_a_mapping = "on_error must map 400/500 to targets"

    def entry_problem(self, entry: Any, item: Any, ctx: LintContext) -> str | None:
        if str(entry) not in ON_ERROR_KEYS:
            return f"on_error key {short(entry)} must be 400 or 500"
        problem = _target_problem(item, ctx, abort_ok=True)
        return f"on_error {entry}: {problem}" if problem else None


class WorkflowNarrow(Rule):
    id = "SILO609"
    summary = "a stage's narrow constraints name an unknown exit or a badly typed constraint"
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        for index, stage in _stages(unit):
            if stage.get("narrow") is None:
                continue
            narrow = stage["narrow"]
            base = ("stages", index, "narrow")
            if not isinstance(narrow, dict):
                yield Hit(unit.path, unit.line_of(*base), f"stage {index + 1}: narrow must map "
                                                       "exit names to constraints")
                continue
            for name, constraints in narrow.items():
                spec = ctx.registry.get(name) if isinstance(name, str) else None
                line = unit.line_of(*base, str(name))
                if spec is None:
                    yield Hit(unit.path, line, f"stage {index + 1}: narrow names no "
                                               f"registered exit {short(name)}")
                    continue
                if constraints is None:
                    continue
                if not isinstance(constraints, dict):
                    yield Hit(unit.path, line, f"stage {index + 1}: narrow {name} must be "
                                               "a mapping")
                    continue
                for key, value in constraints.items():
                    constraint = spec.constraints.get(key)
                    kline = unit.line_of(*base, name, str(key))
                    if constraint is None:
                        yield Hit(unit.path, kline, f"stage {index + 1}: {name} has no "
                                                    f"constraint {short(key)}")
                    elif not constraint.value_ok(value):
                        yield Hit(unit.path, kline, f"stage {index + 1}: {name}.{key} has "
                                                    f"the wrong type ({short(value)})")


class UnknownWorkflowKeys(Rule):
    id = "SILO610"
    summary = "unknown workflow or stage key (an error with --strict)"
    severity = WARNING
    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data
        if data is None:
            return
        for key in data:
            if str(key) not in WORKFLOW_KEYS:
                yield Hit(unit.path, unit.line_of(str(key)), f"unknown workflow key {short(key)}")
        for index, stage in _stages(unit):
            for key in stage:
                if str(key) not in STAGE_KEYS:
                    yield Hit(unit.path, unit.line_of("stages", index, str(key)),
                              f"stage {index + 1}: unknown key {short(key)}")


RULES: tuple[Rule, ...] = (
    WorkflowFile(), WorkflowName(), WorkflowDescription(), WorkflowStages(),
    WorkflowStageAgent(), WorkflowRedirectTargets(), WorkflowMaxRedirects(), WorkflowOnError(),
    WorkflowNarrow(), UnknownWorkflowKeys(),
)
