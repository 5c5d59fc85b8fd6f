"""The `llm` exit: the model, reached only through the membrane (design §12).

It is an exit like any other in the registry (so manifests grant it and lint checks it),
but the cell reaches it with its own `llm` op rather than `call`. The provider lives in
`ctx.services.llm` and holds the API key host-side.
"""

from __future__ import annotations

from typing import Any

from siloos.exits.errors import ExitRefused
from siloos.exits.spec import ExitContext, exit


@exit("llm", constraints={"models": ("model", "in")}, kind="op")
def llm(ctx: ExitContext, messages: list[Any], system: str = "", tools: list[Any] | None = None,
        max_tokens: int = 1024, model: str = "") -> dict[str, Any]:
    """Ask the configured model; returns an Anthropic-Messages-shaped reply."""
    provider = ctx.services.llm
    if provider is None:
        raise ExitRefused("no model configured (set [llm] provider in silo.toml or --llm)")
    # The manifest's `model` (handed over by the router) unless the cell asked for one; a
    # `models` constraint has already been checked against what the cell sent.
    chosen = model or str(ctx.services.llm_model or "")
    return provider.complete(system=system, messages=messages, tools=tools or [],
                             max_tokens=max_tokens, model=chosen)
