"""Scaffolding: render new workspaces, agents and procedures from the top-level `templates/`.

`silo init` and `silo new` both come here. Templates are plain jinja2 files (`*.j2`) kept in
the repository's `templates/` folder (design §3), so what a new agent looks like is edited
as text, not code. Nothing here ever overwrites: every file is created exclusively, and a
failure part-way removes what this call made, so a refused or broken scaffold loses nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

import siloos
from siloos.errors import InputError, UsageError

#: Agent Skills naming (design §3.1): lowercase words joined by single hyphens, 1..64 chars.
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_MAX = 64

TEMPLATE_SUFFIX = ".j2"


def templates_root() -> Path:
    """The top-level `templates/` folder next to the installed (editable) package."""
    return Path(siloos.__file__).resolve().parent.parent / "templates"


def check_name(name: str, *, what: str = "name") -> str:
    """Return `name` if it follows the Agent Skills rules, else raise a UsageError saying why."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"{what} must not be empty")
    if len(name) > NAME_MAX:
        raise UsageError(f"{what} {name!r} is longer than {NAME_MAX} characters")
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"{what} {name!r} is not valid: use lowercase letters, digits and single "
            "hyphens, with no leading or trailing hyphen (e.g. refund-agent)")
    return name


def title_of(name: str) -> str:
    """`refund-agent` → `Refund agent` (headings in generated markdown)."""
    words = name.split("-")
    return " ".join([words[0].capitalize(), *words[1:]])


_PLAIN_SCALAR = re.compile(r"^[A-Za-z][A-Za-z0-9 ,.$()/'-]*$")


def yaml_scalar(value: object) -> str:
    """A string as a YAML scalar: plain when unambiguous, else double-quoted (JSON is YAML)."""
    text = str(value)
    if _PLAIN_SCALAR.match(text) and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=False)


class Renderer:
    """Renders one template tree with strict jinja2 (a missing variable is an error)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else templates_root()
        if not self.root.is_dir():
            raise UsageError(f"scaffold templates not found at {self.root}; "
                             "install SiloOS from a checkout (pip install -e .)")
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.root)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            # Scaffolds are markdown, TOML and Python, never HTML: escaping would corrupt them.
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm")),
        )
        self._env.filters["yaml_scalar"] = yaml_scalar
        # A JSON string (ASCII, escaped) is also a valid TOML basic string.
        self._env.filters["toml_string"] = lambda value: json.dumps(str(value))

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(template).render(**context)
        except jinja2.TemplateError as err:
            raise InputError(f"cannot render template: {err}",
                             path=self.root / template) from None

    def tree(self, folder: str) -> list[str]:
        """Template paths (relative to the root) under `folder`, sorted."""
        base = self.root / folder
        if not base.is_dir():
            raise UsageError(f"scaffold templates not found at {base}")
        return sorted(p.relative_to(self.root).as_posix()
                      for p in base.rglob(f"*{TEMPLATE_SUFFIX}") if p.is_file())


def write_new(path: Path, text: str) -> None:
    """Create `path` with `text`; never replaces an existing file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as err:
        raise UsageError(f"cannot create {path}: {err.strerror or err}") from None


def render_tree(renderer: Renderer, folder: str, dest: Path,
                context: Mapping[str, Any]) -> list[Path]:
    """Render every `folder/**/*.j2` into `dest`, keeping relative paths, dropping `.j2`."""
    made = []
    for template in renderer.tree(folder):
        rel = Path(template).relative_to(folder)
        target = dest / rel.with_name(rel.name[: -len(TEMPLATE_SUFFIX)])
        write_new(target, renderer.render(template, context))
        made.append(target)
    return made


def new_agent(agents_dir: Path, name: str, *, limits: Mapping[str, int],
              description: str | None = None, renderer: Renderer | None = None) -> list[Path]:
    """Scaffold `agents_dir/name/` (design §3); returns the files made, in order."""
    check_name(name, what="agent name")
    dest = agents_dir / name
    if dest.exists():
        raise UsageError(f"{dest} already exists; refusing to overwrite it")
    renderer = renderer or Renderer()
    context = {
        "name": name,
        "title": title_of(name),
        "description": description or f"Describe what {name} does and when to use it.",
        "limits": dict(limits),
    }
    try:
        return render_tree(renderer, "agent", dest, context)
    except BaseException:
        # The folder did not exist before this call, so removing it loses nothing of the user's.
        shutil.rmtree(dest, ignore_errors=True)
        raise


def new_procedure(agent_dir: Path, name: str, *, renderer: Renderer | None = None) -> Path:
    """Scaffold `agent_dir/procedures/name.md`; returns its path."""
    check_name(name, what="procedure name")
    if not (agent_dir / "AGENT.md").is_file():
        raise UsageError(f"{agent_dir} is not an agent folder (no AGENT.md)")
    renderer = renderer or Renderer()
    target = agent_dir / "procedures" / f"{name}.md"
    context = {"name": name, "title": title_of(name), "agent": agent_dir.name}
    write_new(target, renderer.render("procedure.md.j2", context))
    return target
