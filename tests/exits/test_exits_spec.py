"""The exit decorator and registry (design §11.1): declarations, schemas, constraints."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from siloos.errors import InputError
from siloos.exits import Constraint, ExitDefinitionError, Registry, exit
from siloos.exits.spec import ExitContext, ExitServices, idempotency_key
from siloos.workspace import Workspace


def test_decorator_builds_the_spec_from_keywords_and_type_hints() -> None:
    @exit("tickets.create", pii={"customer_email": "email"}, hydrate=("to",),
          constraints={"max_priority": ("priority", "<="), "queues": ("queue", "in")},
          scope="customer")
    def create_ticket(ctx, title: str, priority: int, queue: str, to: str,
                      tags: list[str] | None = None) -> dict:
        """Open a support ticket.

        More detail that is not part of the description.
        """
        return {}

    spec = create_ticket.__silo_exit__
    assert spec.name == "tickets.create"
    assert spec.description == "Open a support ticket."
    assert spec.hydrate == ("to",)
    assert spec.pii == {"customer_email": "email"}
    assert spec.scope == "customer"
    assert spec.constraints["max_priority"] == Constraint("max_priority", "priority", "<=")
    assert spec.input_schema() == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "priority": {"type": "integer"},
                       "queue": {"type": "string"}, "to": {"type": "string"},
                       "tags": {"type": "array"}},
        "required": ["title", "priority", "queue", "to"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize("kwargs, needle", [
    ({"hydrate": ("nope",)}, "hydrates unknown argument"),
    ({"constraints": {"k": ("nope", "<=")}}, "unknown argument"),
    ({"constraints": {"k": ("a", "~=")}}, "unknown rule"),
    ({"constraints": {"k": "a"}}, "must be (argument, rule)"),
    ({"scope": "world"}, "scope must be"),
    ({"kind": "magic"}, "kind must be"),
])
def test_bad_declarations_are_refused(kwargs: dict, needle: str) -> None:
    with pytest.raises(ExitDefinitionError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        @exit("x.y", **kwargs)
        def f(ctx, a: int) -> dict:
            return {}


@pytest.mark.parametrize("name", ["X.y", "x..y", "x.", ".x", "x-y", "", "x y"])
def test_bad_exit_names_are_refused(name: str) -> None:
    with pytest.raises(ExitDefinitionError, match="dotted lowercase"):
        exit(name)(lambda ctx: {})


def test_first_parameter_must_be_ctx_and_no_varargs() -> None:
    with pytest.raises(ExitDefinitionError, match="first parameter"):
        exit("a.b")(lambda order: {})
    with pytest.raises(ExitDefinitionError, match=r"\*args"):
        @exit("a.b")
        def f(ctx, *rest: str) -> dict:
            return {}


@pytest.mark.parametrize("rule, granted, actual, ok", [
    ("<=", 500, 499.99, True), ("<=", 500, 500, True), ("<=", 500, 500.01, False),
    ("<=", 500, "400", False), ("<=", 500, True, False), ("<=", 500, None, False),
    (">=", 2, 3, True), (">=", 2, 1, False),
    ("in", ["a", "b"], "a", True), ("in", ["a", "b"], "c", False), ("in", "ab", "a", False),
    ("==", "eu", "eu", True), ("==", "eu", "us", False),
])
def test_constraint_compares_real_values_and_fails_closed(rule, granted, actual, ok) -> None:
    assert Constraint("k", "arg", rule).allows(granted, actual) is ok


def test_stricter_takes_the_tighter_grant() -> None:
    assert Constraint("k", "a", "<=").stricter(500, 750) == 500
    assert Constraint("k", "a", ">=").stricter(1, 3) == 3
    assert Constraint("k", "a", "in").stricter(["x", "y"], ["y", "z"]) == ["y"]
    impossible = Constraint("k", "a", "==").stricter("eu", "us")
    assert not Constraint("k", "a", "==").allows(impossible, "eu")
    assert not Constraint("k", "a", "==").allows(impossible, "us")


@pytest.mark.parametrize("rule, value, ok", [
    ("<=", 5, True), ("<=", 5.5, True), ("<=", "5", False), ("<=", True, False),
    ("in", ["a", 1], True), ("in", "a", False), ("in", [True], False), ("in", [["a"]], False),
    ("==", "x", True), ("==", {"a": 1}, False),
])
def test_constraint_value_types_for_lint(rule: str, value, ok: bool) -> None:
    assert Constraint("k", "a", rule).value_ok(value) is ok


def test_idempotency_key_names_task_hop_and_call_sequence() -> None:
    ctx = ExitContext(task_id="task_abc", hop=2, call_seq=5, customer_id=None, grants={})
    assert ctx.idempotency_key == "task_abc/2/5" == idempotency_key("task_abc", 2, 5)


def test_arg_kinds_are_the_token_types_of_whole_token_arguments() -> None:
    ctx = ExitContext(task_id="task_abc", hop=1, call_seq=1, customer_id=None, grants={},
                      arg_tokens={"to": "email_tk_0123456789ab", "order": "ord_tk_abcdefghijkl",
                                  "junk": "email_tk_short"})
    assert ctx.arg_kinds == {"to": "email", "order": "ord"}


def test_exit_services_default_to_none_and_cannot_be_swapped() -> None:
    services = ExitContext(task_id="t", hop=1, call_seq=1, customer_id=None,
                           grants={}).services
    assert services == ExitServices()
    assert (services.backoffice, services.llm, services.llm_model, services.llm_log,
            services.attempts) == (None, None, None, None, None)
    with pytest.raises(AttributeError):
        services.llm = object()  # type: ignore[misc]


def test_builtin_registry_has_the_demo_exits_and_llm() -> None:
    reg = Registry.builtin()
    assert {"customers.get", "orders.list", "orders.get", "refunds.issue", "email.send",
            "identity.verify", "customers.compare", "llm"} <= set(reg.names())
    assert reg.get("refunds.issue").constraints["max_amount"].rule == "<="
    assert reg.get("email.send").constraints["templates"].arg == "template"
    assert reg.get("email.send").hydrate == ("to", "variables")
    assert reg.get("llm").kind == "op"


def _workspace(tmp_path: Path, module_body: str, modules: str) -> Workspace:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "__init__.py").write_text("")
    (tmp_path / "exits" / f"{tmp_path.name}_mod.py").write_text(textwrap.dedent(module_body))
    (tmp_path / "silo.toml").write_text(f"[services]\nmodules = [{modules}]\n")
    return Workspace.load(tmp_path)


def test_workspace_service_modules_join_the_registry(tmp_path: Path) -> None:
    name = f"exits.{tmp_path.name}_mod"
    ws = _workspace(tmp_path, """
        from siloos.exits import exit

        @exit("tickets.create", constraints={"queues": ("queue", "in")}, scope="customer")
        def create(ctx, title: str, queue: str) -> dict:
            return {"ticket": "t1"}
    """, f'"{name}"')
    try:
        reg = Registry.for_workspace(ws)
        assert "tickets.create" in reg and "refunds.issue" in reg
        assert str(tmp_path) not in sys.path  # the root is put back the way it was
    finally:
        sys.modules.pop(name, None)
        sys.modules.pop("exits", None)


@pytest.mark.parametrize("body, needle", [
    ("raise RuntimeError('boom')", "cannot import service module"),
    ("from siloos.exits import exit\n@exit('Bad Name')\ndef f(ctx): return {}",
     "dotted lowercase"),
    ("from siloos.exits import exit\n@exit('refunds.issue')\ndef f(ctx): return {}",
     "defined twice"),
])
def test_broken_service_modules_are_one_line_input_errors(tmp_path: Path, body: str,
                                                          needle: str) -> None:
    name = f"exits.{tmp_path.name}_mod"
    ws = _workspace(tmp_path, body, f'"{name}"')
    try:
        with pytest.raises(InputError, match=needle):
            Registry.for_workspace(ws)
    finally:
        sys.modules.pop(name, None)
        sys.modules.pop("exits", None)


def test_missing_service_module_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "silo.toml").write_text('[services]\nmodules = ["exits.nowhere_to_be_found"]\n')
    with pytest.raises(InputError, match="cannot import service module"):
        Registry.for_workspace(Workspace.load(tmp_path))
