"""What an exit is: its name, argument schema, constraint schema, PII fields and hydration.

An exit is a pre-blessed host-side operation the membrane performs for a cell (design §11.1).
Operators write them as plain functions decorated with `siloos.exits.exit`; this module
turns the decorator's keywords and the function's type hints into an `ExitSpec` that lint,
the membrane and the LLM tool schemas all read.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siloos.privacy.tokens import is_token

#: Constraint rules an exit may declare: capability value compared with the call's argument.
RULES = ("<=", ">=", "in", "==")

#: Exit names: dotted lowercase words, e.g. `refunds.issue`.
EXIT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

_JSON_TYPES: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean",
    dict: "object", list: "array",
}


class ExitDefinitionError(Exception):
    """An exit was declared wrongly (a programming error in an exit module)."""


@dataclass(frozen=True)
class Constraint:
    """A capability key an exit understands: compare the real `arg` value by `rule`."""

    key: str
    arg: str
    rule: str

    def value_ok(self, value: Any) -> bool:
        """Whether `value` is a well-typed constraint value for this rule (lint uses this)."""
        if self.rule in ("<=", ">="):
            return isinstance(value, int | float) and not isinstance(value, bool)
        if self.rule == "in":
            return isinstance(value, list) and all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
        return isinstance(value, str | int | float | bool)

    def allows(self, granted: Any, actual: Any) -> bool:
        """Whether the real argument value `actual` stays within the `granted` constraint."""
        try:
            if self.rule == "<=":
                return _number(actual) <= _number(granted)
            if self.rule == ">=":
                return _number(actual) >= _number(granted)
            if self.rule == "in":
                return isinstance(granted, list) and actual in granted
            return bool(actual == granted)
        except (TypeError, ValueError, OverflowError):  # e.g. a 400-digit int: not allowed
            return False

    def stricter(self, a: Any, b: Any) -> Any:
        """The tighter of two granted values (base caps ∩ narrow)."""
        if self.rule == "<=":
            return min(_number(a), _number(b))
        if self.rule == ">=":
            return max(_number(a), _number(b))
        if self.rule == "in":
            return [v for v in a if v in b]
        return a if a == b else _Impossible()


class _Impossible:
    """A `==` constraint narrowed to two different values: nothing satisfies it."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


@dataclass(frozen=True)
class Param:
    """One argument of an exit, from the function's signature."""

    name: str
    json_type: str
    required: bool


@dataclass(frozen=True)
class ExitSpec:
    """Everything SiloOS knows about one exit."""

    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    pii: Mapping[str, str]
    hydrate: tuple[str, ...]
    constraints: Mapping[str, Constraint]
    scope: str | None
    description: str
    #: "call" exits are reached with the `call` op; "op" exits (llm) have an op of their own.
    kind: str = "call"
    module: str = ""

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (the LLM tool schema and argument checks)."""
        return {
            "type": "object",
            "properties": {p.name: {"type": p.json_type} for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


def idempotency_key(task_id: str, hop: int, seq: int) -> str:
    """The key of call `seq` of hop `hop` of task `task_id`: `task/hop/seq`.

    The membrane records each call's result under it and exits pass it on to the systems
    they act in, so a hop retried after a crash never acts twice for the same call.
    """
    return f"{task_id}/{hop}/{seq}"


@dataclass(frozen=True)
class ExitServices:
    """The host-side services the runtime hands to exits, by name rather than by string key.

    Built by the router for each hop; the membrane adds the hop's attempt ledger. Frozen so
    that an exit cannot swap a service for the calls after it (the ledger's contents are
    the one thing meant to change).
    """

    #: The system of record the demo exits read and act in (the demo `BackOffice`).
    backoffice: Any | None = None
    #: The model provider behind the `llm` exit (a `siloos.llm.LLMProvider`); None: no model.
    llm: Any | None = None
    #: The model the agent's manifest names, used when the cell asks for none.
    llm_model: str | None = None
    #: The prompt log (`siloos.llm.LLMLog`) the membrane appends each tokenized exchange to.
    llm_log: Any | None = None
    #: Memory exits keep about the cell's attempts (identity.verify's wrong guesses), one per
    #: membrane, so it lives exactly as long as the hop. None: no ledger, and an exit that
    #: needs one refuses (fail closed).
    attempts: dict[Any, int] | None = None


@dataclass
class ExitContext:
    """What an exit receives besides its arguments. Host side only: never sent to a cell."""

    task_id: str
    hop: int
    call_seq: int
    customer_id: str | None
    grants: Mapping[str, Any]
    agent_dir: Path | None = None
    workspace_root: Path | None = None
    #: The host-side services this hop's exits may use (back office, model, logs...).
    services: ExitServices = field(default_factory=ExitServices)
    #: The arguments the cell sent as whole tokens (argument name -> token), so an exit can
    #: tell what kind of value it was handed without seeing the cell's other input.
    arg_tokens: Mapping[str, str] = field(default_factory=dict)

    @property
    def arg_kinds(self) -> dict[str, str]:
        """Argument name -> token type (`email`, `ord`...) for the arguments sent as tokens."""
        # `token_kind` would check each token again: the type is what precedes "_tk_".
        return {name: token.split("_tk_", 1)[0] for name, token in self.arg_tokens.items()
                if is_token(token)}

    @property
    def idempotency_key(self) -> str:
        """Same (task, hop, call sequence) → same key, so a retried call never acts twice."""
        return idempotency_key(self.task_id, self.hop, self.call_seq)


def exit(
    name: str,
    *,
    pii: Mapping[str, str] | None = None,
    hydrate: tuple[str, ...] | list[str] = (),
    constraints: Mapping[str, tuple[str, str]] | None = None,
    scope: str | None = None,
    kind: str = "call",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a function as an exit. See design §11.1 for the meaning of each keyword."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = build_spec(func, name, pii=pii or {}, hydrate=tuple(hydrate),
                          constraints=constraints or {}, scope=scope, kind=kind)
        func.__silo_exit__ = spec  # type: ignore[attr-defined]
        return func

    return decorate


def build_spec(func: Callable[..., Any], name: str, *, pii: Mapping[str, str],
               hydrate: tuple[str, ...], constraints: Mapping[str, tuple[str, str]],
               scope: str | None, kind: str) -> ExitSpec:
    """Validate a declaration and build its spec; mistakes raise ExitDefinitionError."""
    where = f"exit {name!r} ({func.__module__}.{func.__qualname__})"
    if not EXIT_NAME.match(name):
        raise ExitDefinitionError(f"{where}: name must be dotted lowercase words")
    if scope not in (None, "customer"):
        raise ExitDefinitionError(f"{where}: scope must be 'customer' or None")
    if kind not in ("call", "op"):
        raise ExitDefinitionError(f"{where}: kind must be 'call' or 'op'")
    params = _params(func, where)
    names = {p.name for p in params}
    for arg in hydrate:
        if arg not in names:
            raise ExitDefinitionError(f"{where}: hydrates unknown argument {arg!r}")
    built: dict[str, Constraint] = {}
    for key, decl in constraints.items():
        if not (isinstance(decl, tuple | list) and len(decl) == 2):
            raise ExitDefinitionError(f"{where}: constraint {key!r} must be (argument, rule)")
        arg, rule = decl
        if rule not in RULES:
            raise ExitDefinitionError(f"{where}: constraint {key!r} has unknown rule {rule!r}")
        if arg not in names:
            raise ExitDefinitionError(f"{where}: constraint {key!r} names unknown argument {arg!r}")
        built[key] = Constraint(key=key, arg=arg, rule=rule)
    return ExitSpec(
        name=name, func=func, params=params, pii=dict(pii), hydrate=hydrate,
        constraints=built, scope=scope, kind=kind,
        description=inspect.cleandoc(func.__doc__ or name).split("\n\n")[0],
        module=func.__module__,
    )


def _params(func: Callable[..., Any], where: str) -> tuple[Param, ...]:
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception as err:
        raise ExitDefinitionError(f"{where}: cannot resolve type hints: {err}") from None
    items = list(sig.parameters.values())
    if not items or items[0].name != "ctx":
        raise ExitDefinitionError(f"{where}: first parameter must be `ctx`")
    out = []
    for p in items[1:]:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise ExitDefinitionError(f"{where}: *args/**kwargs are not allowed")
        out.append(Param(p.name, _json_type(hints.get(p.name, str)),
                         required=p.default is inspect.Parameter.empty))
    return tuple(out)


def _json_type(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _json_type(args[0])
        if set(args) <= {int, float}:
            return "number"
        return "string"
    if origin is not None:
        hint = origin
    if hint is float:
        return "number"
    return _JSON_TYPES.get(hint, "string")
