"""SILO6xx: workflows (`workflows/*.yaml`, design §8).

A workflow is `name`, `description`, `stages` (each `agent:` with optional `301:`/`302:`
maps of allowed targets → one-line descriptions, an optional `max_redirects` and
`narrow` constraints), `max_redirects` (default 3) and `on_error` (`400`/`500` → a human
pool, an agent, or `abort`). Status keys may be written as numbers or strings.
"""

from __future__ import annotations

import re
from abc import abstractmethod
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


#: What a stage check reports: the key path inside the stage, and the message.
StageProblem = tuple[tuple[str, ...], str]


class _StageRule(Rule):
    """A check of each stage that is a mapping, one stage at a time.

    Findings point into the stage and are prefixed with its 1-based number, so a rule
    says only what is wrong inside one stage.
    """

    unit = "workflow"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        for index, stage in _stages(unit):
            for keypath, message in self.stage_problems(stage, ctx):
                yield Hit(unit.file, unit.line_of("stages", index, *keypath),
                          f"stage {index + 1}: {message}")

    @abstractmethod
    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        """(key path inside the stage, message) for each problem of one stage."""


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
            yield Hit(unit.file, unit.line_of("stages"), "stages must be a non-empty list")
            return
        for index, stage in enumerate(stages):
            line = unit.line_of("stages", index)
            if not isinstance(stage, dict):
                yield Hit(unit.file, line, f"stage {index + 1} must be a mapping with `agent:`")
            elif not isinstance(stage.get("agent"), str):
                yield Hit(unit.file, line, f"stage {index + 1} needs `agent:` naming an agent")


class WorkflowStageAgent(_StageRule):
    id = "SILO605"
    summary = "a stage's agent is not an agent of the workspace"

    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        agent = stage.get("agent")
        if isinstance(agent, str) and agent not in ctx.known_agents:
            yield ("agent",), f"agent {agent!r} is not in agents/"


class WorkflowRedirectTargets(_StageRule):
    id = "SILO606"
    summary = "a stage's 301/302 map is malformed or names an unknown target"

    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        for key, targets in stage.items():
            if str(key) not in ("301", "302"):
                continue
            if not isinstance(targets, dict):
                yield (str(key),), f"{key} must map targets to one-line descriptions"
                continue
            for target, why in targets.items():
                at = (str(key), str(target))
                problem = _target_problem(target, ctx, abort_ok=False)
                if problem:
                    yield at, f"{key} {problem}"
                if not isinstance(why, str) or not why.strip() or "\n" in why.strip():
                    yield at, f"{key} target {short(target)} needs a one-line description"


def _redirect_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT_MAX:
        return f"max_redirects must be a non-negative integer, got {short(value)}"
    return None


class WorkflowMaxRedirects(_StageRule):
    id = "SILO607"
    summary = "max_redirects (workflow or stage) is not a non-negative integer"

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        data = unit.data or {}
        if "max_redirects" in data:
            problem = _redirect_problem(data["max_redirects"])
            if problem:
                yield Hit(unit.file, unit.line_of("max_redirects"), problem)
        yield from super().check(unit, ctx)

    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        if "max_redirects" in stage:
            problem = _redirect_problem(stage["max_redirects"])
            if problem:
                yield ("max_redirects",), problem


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


class WorkflowNarrow(_StageRule):
    id = "SILO609"
    summary = "a stage's narrow constraints name an unknown exit or a badly typed constraint"

    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        narrow = stage.get("narrow")
        if narrow is None:
            return
        if not isinstance(narrow, dict):
            yield ("narrow",), "narrow must map exit names to constraints"
            return
        for name, constraints in narrow.items():
            spec = ctx.registry.get(name) if isinstance(name, str) else None
            if spec is None:
                yield ("narrow", str(name)), f"narrow names no registered exit {short(name)}"
            elif constraints is not None and not isinstance(constraints, dict):
                yield ("narrow", str(name)), f"narrow {name} must be a mapping"
            elif constraints is not None:
                for key, value in constraints.items():
                    constraint = spec.constraints.get(key)
                    if constraint is None:
                        yield ("narrow", name, str(key)), f"{name} has no constraint {short(key)}"
                    elif not constraint.value_ok(value):
                        yield (("narrow", name, str(key)),
                               f"{name}.{key} has the wrong type ({short(value)})")


class UnknownWorkflowKeys(_StageRule):
    id = "SILO610"
    summary = "unknown workflow or stage key (an error with --strict)"
    severity = WARNING

    def check(self, unit: WorkflowUnit, ctx: LintContext) -> Iterator[Hit]:
        for key in unit.data or {}:
            if str(key) not in WORKFLOW_KEYS:
                yield Hit(unit.file, unit.line_of(str(key)), f"unknown workflow key {short(key)}")
        yield from super().check(unit, ctx)

    def stage_problems(self, stage: dict[str, Any], ctx: LintContext) -> Iterator[StageProblem]:
        for key in stage:
            if str(key) not in STAGE_KEYS:
                yield (str(key),), f"unknown key {short(key)}"


RULES: tuple[Rule, ...] = (
    WorkflowFile(), WorkflowName(), WorkflowDescription(), WorkflowStages(),
    WorkflowStageAgent(), WorkflowRedirectTargets(), WorkflowMaxRedirects(), WorkflowOnError(),
    WorkflowNarrow(), UnknownWorkflowKeys(),
)
