"""The model-provider interface the membrane's `llm` exit calls (design §12).

A provider turns one request (system prompt, messages, tool schemas) into one
Anthropic-Messages-shaped reply dict. It runs on the host only: it may hold an API key,
and nothing it holds ever reaches a cell. `check_reply` is the shape contract every
provider's output must meet before the membrane tokenizes it and hands it to the cell.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from siloos.errors import SiloError

#: The stop reasons the Messages API documents; the default loop acts on each.
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")


class LLMError(SiloError):
    """The model could not be asked or gave an unusable reply; the message is one line."""

    exit_code = 4


class LLMProvider(ABC):
    """Something that answers Messages-API requests: the real API or a scripted double."""

    @abstractmethod
    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        """One model turn; returns {"id","type","role","model","content","stop_reason","usage"}.

        `model` may be empty, meaning the provider's default. Failures raise LLMError.
        """


def check_reply(reply: Any) -> dict[str, Any]:
    """Return `reply` if it has the Messages shape the cell relies on, else raise LLMError."""
    if not isinstance(reply, dict):
        raise LLMError("model reply is not an object")
    content = reply.get("content")
    if not isinstance(content, list):
        raise LLMError("model reply has no content list")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise LLMError(f"model reply content[{i}] is not a typed block")
        kind = block["type"]
        if kind == "text" and not isinstance(block.get("text"), str):
            raise LLMError(f"model reply content[{i}] text block has no text")
        if kind == "tool_use" and not (isinstance(block.get("id"), str)
                                       and isinstance(block.get("name"), str)
                                       and isinstance(block.get("input"), dict)):
            raise LLMError(f"model reply content[{i}] tool_use needs id, name and input object")
    if reply.get("stop_reason") not in STOP_REASONS:
        raise LLMError(f"model reply has unknown stop_reason {reply.get('stop_reason')!r}")
    usage = reply.get("usage")
    if not isinstance(usage, dict):
        raise LLMError("model reply has no usage")
    for key in ("input_tokens", "output_tokens"):
        value = usage.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LLMError(f"model reply usage.{key} must be a non-negative integer")
    return reply
