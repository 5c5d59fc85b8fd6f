"""The exit registry: every exit a workspace can grant, built per workspace, never global.

Built-in exits (the demo back office, the privacy exits and `llm`) come from the modules in
`BUILTIN_MODULES`; operator exits from the modules named in `silo.toml` `[services]
modules`, imported with the workspace root on sys.path (design §11.1).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType

from siloos.errors import InputError
from siloos.exits.spec import ExitDefinitionError, ExitSpec

BUILTIN_MODULES = ("siloos.exits.backoffice", "siloos.exits.privacy", "siloos.exits.llm")


class Registry:
    """An immutable name → ExitSpec map."""

    def __init__(self, specs: Iterable[ExitSpec]) -> None:
        self._specs: dict[str, ExitSpec] = {}
        for spec in specs:
            if spec.name in self._specs and self._specs[spec.name].func is not spec.func:
                raise InputError(f"exit {spec.name!r} is defined twice "
                                 f"({self._specs[spec.name].module} and {spec.module})")
            self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ExitSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> ExitSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    @classmethod
    def builtin(cls) -> Registry:
        return cls(_collect_modules(BUILTIN_MODULES))

    @classmethod
    def for_workspace(cls, workspace: object | None) -> Registry:
        """Built-ins plus the workspace's own service modules."""
        if workspace is None:
            return cls.builtin()
        from siloos.workspace import Workspace

        assert isinstance(workspace, Workspace)
        specs = list(_collect_modules(BUILTIN_MODULES))
        if workspace.config.service_modules:
            root = str(workspace.root)
            added = root not in sys.path
            if added:
                sys.path.insert(0, root)
            try:
                specs += _collect_modules(workspace.config.service_modules,
                                          where=workspace.root / "silo.toml")
            finally:
                if added:
                    sys.path.remove(root)
        return cls(specs)


def specs_in(module: ModuleType) -> list[ExitSpec]:
    """The exits a module defines (functions carrying the decorator's spec)."""
    found = []
    for value in vars(module).values():
        spec = getattr(value, "__silo_exit__", None)
        if isinstance(spec, ExitSpec) and spec.module == module.__name__:
            found.append(spec)
    return found


def _collect_modules(names: Iterable[str], where: object = None) -> list[ExitSpec]:
    specs: list[ExitSpec] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ExitDefinitionError as err:
            raise InputError(f"service module {name!r}: {err}", path=where) from None
        except Exception as err:
            raise InputError(f"cannot import service module {name!r}: "
                             f"{type(err).__name__}: {err}", path=where) from None
        specs += specs_in(module)
    return specs
