"""Host-side rendering of an agent's outbound message templates (`templates/<name>.md`).

Templates are rendered with jinja2's sandboxed environment and `StrictUndefined`, so a
template can neither reach Python internals nor silently send a message with a hole in it.
A template file may carry YAML frontmatter with a `subject:`; the rest is the body.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from siloos.exits.errors import ExitRefused

TEMPLATE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def template_path(agent_dir: Path, name: str) -> Path:
    return agent_dir / "templates" / f"{name}.md"


def render_template(agent_dir: Path | None, name: str,
                    variables: dict[str, Any]) -> tuple[str, str]:
    """Render template `name` of the agent; returns (subject, body)."""
    if agent_dir is None or not TEMPLATE_NAME.match(name or ""):
        raise ExitRefused(f"unknown template {name!r}")
    path = template_path(agent_dir, name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ExitRefused(f"unknown template {name!r}") from None
    import frontmatter

    post = frontmatter.loads(text)
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        body = env.from_string(post.content).render(**variables)
        subject = env.from_string(str(post.metadata.get("subject", name))).render(**variables)
    except TemplateError as err:
        # Never quote jinja's message: it can carry a hydrated value, even transformed
        # (`name|reverse`), where no masking could recognise it. The kind of error is safe.
        kind = "a variable is missing" if "undefined" in type(err).__name__.lower() \
            else "it could not be rendered"
        raise ExitRefused(f"template {name!r}: {kind}") from None
    except Exception:  # any failure inside the sandbox is the same refusal
        raise ExitRefused(f"template {name!r}: it could not be rendered") from None
    return subject, body.strip() + "\n"
