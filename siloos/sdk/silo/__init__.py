"""`silo`: the in-cell SDK an agent's main.py uses to reach the membrane. Stdlib only.

    import silo
    task = silo.task()                       # {"task_id", "agent", "input", "history", "outcomes"}
    order = silo.call("orders.get", order=task["input"]["order"])
    silo.note("checked the order")
    silo.finish(200, summary={"refunded": True})   # ends the process

Everything the membrane refuses raises a `MembraneError` subclass carrying its code, type
and message. One connection, from the cell's environment, is shared by these functions;
`Client` is the same thing for code that wants its own.
"""

from __future__ import annotations

import sys
from typing import Any

from .client import Client
from .errors import (
    BadRequest,
    BudgetExhausted,
    ExitFailed,
    Forbidden,
    FrameTooLarge,
    LimitExceeded,
    MembraneError,
    MembraneUnavailable,
    NotFound,
    TaskInactive,
    Unauthorized,
)

__all__ = [
    "BadRequest", "BudgetExhausted", "Client", "ExitFailed", "Forbidden", "FrameTooLarge",
    "LimitExceeded", "MembraneError", "MembraneUnavailable", "NotFound", "TaskInactive",
    "Unauthorized", "call", "client", "finish", "llm", "note", "run_agent", "task",
]

_client: Client | None = None


def client() -> Client:
    """The shared connection, opened from the environment on first use."""
    global _client
    if _client is None:
        _client = Client()
    return _client


def task() -> dict[str, Any]:
    """This hop's task payload (tokenized)."""
    return client().task()


def call(tool: str, /, **args: Any) -> Any:
    """Ask the membrane to run exit `tool` with `args`; returns its tokenized result."""
    return client().call(tool, **args)


def note(text: str) -> None:
    """Record a line in the task's trail (tokenized by the membrane)."""
    client().note(text)


def finish(status: int, summary: dict[str, Any] | None = None,
           output: dict[str, Any] | None = None, redirect: str | None = None, *,
           exit: bool = True) -> None:
    """End the hop with `status` (200/301/302/400/500). The process then exits cleanly
    (status 0) unless `exit=False`; a refused finish raises instead."""
    client().finish(status, summary=summary, output=output, redirect=redirect)
    if exit:
        client().close()
        sys.exit(0)


def llm(messages: list[Any], system: str | None = None, tools: list[Any] | None = None,
        max_tokens: int | None = None, model: str | None = None) -> dict[str, Any]:
    """One model turn through the membrane: an Anthropic-Messages-shaped reply."""
    return client().llm(messages, system=system, tools=tools, max_tokens=max_tokens,
                        model=model)


def run_agent(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The default agent loop (`silo.loop.run_agent`): think with the model, act through
    the membrane, until finish. Imported on first use so `silo` stays small to load."""
    from .loop import run_agent as loop_run_agent

    return loop_run_agent(*args, **kwargs)
