"""SILO4xx: an agent's Python (main.py, tools.py and its own modules), read as an AST.

These rules are advice for authors and a gate for `silo pack`, never the enforcement:
the cell and the membrane must hold against any code at all (design §4). They keep the
honest path obvious: the standard library, the in-cell SDK `silo`, and the agent's own
modules — and nothing that opens sockets, starts processes or calls into C.
"""

from __future__ import annotations

import ast
import sys
from abc import abstractmethod
from collections.abc import Callable, Iterator

from siloos.agent.lint.base import CodeUnit, Hit, LintContext, Rule, error_hit

#: Standard-library modules that reach the network, start processes or load native code.
FORBIDDEN_MODULES = frozenset({
    "socket", "_socket", "socketserver", "ssl", "_ssl",
    "subprocess", "_posixsubprocess", "pty", "multiprocessing", "concurrent.futures.process",
    "ctypes", "_ctypes", "asyncio.subprocess",
    "http.client", "http.server", "urllib.request", "ftplib", "smtplib", "poplib", "imaplib",
    "telnetlib", "xmlrpc", "xmlrpc.client", "xmlrpc.server", "webbrowser",
})

#: `os` functions that run programs or fork.
FORBIDDEN_OS_CALLS = frozenset({
    "system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp",
    "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
})

#: Calls that import by computed name, hiding what the code really loads.
DYNAMIC_IMPORTS = frozenset({"__import__", "importlib.import_module", "import_module",
                             "importlib.__import__"})

SDK_MODULE = "silo"


def _tree(unit: CodeUnit) -> ast.Module | None:
    if unit.error is not None:
        return None
    try:
        return ast.parse(unit.source, filename=str(unit.path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) for every import; relative imports are the agent's own."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:
                # `from concurrent.futures import process` imports a submodule.
                yield f"{node.module}.{alias.name}", node.lineno


def _forbidden(module: str) -> str | None:
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in FORBIDDEN_MODULES:
            return prefix
    return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class CodeUnreadable(Rule):
    id = "SILO401"
    summary = "a Python file is unreadable or not valid Python"
    unit = "code"

    def check(self, unit: CodeUnit, ctx: LintContext) -> Iterator[Hit]:
        if unit.error is not None:
            yield error_hit(unit.path, unit.error, "cannot read")
            return
        try:
            ast.parse(unit.source, filename=str(unit.path))
        except SyntaxError as err:
            yield Hit(unit.path, err.lineno or 1, f"not valid Python: {err.msg}")
        except (ValueError, RecursionError, MemoryError) as err:
            yield Hit(unit.path, 1, f"not valid Python: {type(err).__name__}")


class _TreeRule(Rule):
    """A check of a file's syntax tree; a file that does not parse is SILO401's alone."""

    unit = "code"

    def check(self, unit: CodeUnit, ctx: LintContext) -> Iterator[Hit]:
        tree = _tree(unit)
        if tree is None:
            return
        for line, message in self.tree_problems(tree, unit):
            yield Hit(unit.path, line, message)

    @abstractmethod
    def tree_problems(self, tree: ast.Module, unit: CodeUnit) -> Iterator[tuple[int, str]]:
        """(line, message) for each problem in the tree."""


def _flagged_imports(tree: ast.Module,
                     flag: Callable[[str], str | None]) -> Iterator[tuple[str, int]]:
    """(what `flag` names, line) for flagged imports, once per name and line."""
    reported: set[tuple[str, int]] = set()
    for module, line in _imports(tree):
        name = flag(module)
        if name is not None and (name, line) not in reported:
            reported.add((name, line))
            yield name, line


class ImportsAllowed(_TreeRule):
    id = "SILO402"
    summary = "code imports something other than the standard library, silo or its own modules"

    def tree_problems(self, tree: ast.Module, unit: CodeUnit) -> Iterator[tuple[int, str]]:
        def outside(module: str) -> str | None:
            top = module.split(".")[0]
            allowed = top in sys.stdlib_module_names or top == SDK_MODULE
            return None if allowed or top in unit.own_modules else top

        for top, line in _flagged_imports(tree, outside):
            yield line, (f"imports {top!r}: an agent may import only the standard library, "
                         "`silo` and its own modules")


class NoSocketsOrProcesses(_TreeRule):
    id = "SILO403"
    summary = "code imports a network, process or native-code module (socket, subprocess...)"

    def tree_problems(self, tree: ast.Module, unit: CodeUnit) -> Iterator[tuple[int, str]]:
        for bad, line in _flagged_imports(tree, _forbidden):
            yield line, (f"imports {bad!r}: agents reach the world only through the membrane "
                         "(silo.call)")


class NoOsExec(_TreeRule):
    id = "SILO404"
    summary = "code runs programs or forks (os.system, os.popen, os.exec*, os.spawn*, os.fork)"

    def tree_problems(self, tree: ast.Module, unit: CodeUnit) -> Iterator[tuple[int, str]]:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "os" and node.level == 0:
                for alias in node.names:
                    if alias.name in FORBIDDEN_OS_CALLS or alias.name == "*":
                        yield node.lineno, f"imports os.{alias.name}: agents may not run programs"
            elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_OS_CALLS:
                if _dotted(node.value) in ("os", "posix", "nt"):
                    yield node.lineno, f"uses {_dotted(node)}: agents may not run programs"


class NoDynamicImports(_TreeRule):
    id = "SILO405"
    summary = "code imports by computed name (__import__, importlib.import_module)"

    def tree_problems(self, tree: ast.Module, unit: CodeUnit) -> Iterator[tuple[int, str]]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in DYNAMIC_IMPORTS:
                yield node.lineno, (f"calls {_dotted(node.func)}(): write a plain import so "
                                    "lint can check it")


RULES: tuple[Rule, ...] = (CodeUnreadable(), ImportsAllowed(), NoSocketsOrProcesses(),
                           NoOsExec(), NoDynamicImports())
