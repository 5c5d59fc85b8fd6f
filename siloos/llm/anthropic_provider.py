"""The `anthropic` provider: the real Messages API through the official SDK (design §12).

The API key is read from the host environment when the provider is built (or given
explicitly) and lives only in this object, host-side; it is never logged, never put in an
error message and never sent towards a cell. `ANTHROPIC_BASE_URL` is honoured so that a
proxy or a local Messages-API server can stand in for the real one.
"""

from __future__ import annotations

import os
from typing import Any

import anthropic

from siloos.errors import UsageError
from siloos.llm.base import LLMError, LLMProvider, check_reply

DEFAULT_MODEL = "claude-sonnet-4-5"
_MAX_DETAIL = 200


class AnthropicProvider(LLMProvider):
    """Calls `client.messages.create` and returns the reply as a plain dict."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 default_model: str = DEFAULT_MODEL, max_retries: int = 2,
                 timeout: float = 120.0) -> None:
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")
        if not key.strip():
            raise UsageError("the anthropic provider needs ANTHROPIC_API_KEY set on the host "
                             "(it is never passed into a cell)")
        url = base_url if base_url is not None else os.environ.get("ANTHROPIC_BASE_URL") or None
        self._key = key
        self.base_url = url
        self.default_model = default_model
        self._client = anthropic.Anthropic(api_key=key, base_url=url, max_retries=max_retries,
                                           timeout=timeout)

    def __repr__(self) -> str:
        # Never show the key, even in a debug dump.
        return f"AnthropicProvider(base_url={self.base_url!r}, model={self.default_model!r})"

    def complete(self, *, system: str, messages: list[Any], tools: list[Any], max_tokens: int,
                 model: str) -> dict[str, Any]:
        request: dict[str, Any] = {"model": model or self.default_model,
                                   "max_tokens": max_tokens, "messages": messages}
        if system:
            request["system"] = system
        if tools:
            request["tools"] = tools
        try:
            message = self._client.messages.create(**request)
        except anthropic.APIStatusError as err:
            raise LLMError(self._scrub(_status_message(err))) from None
        except anthropic.APITimeoutError:
            raise LLMError("anthropic: the request timed out") from None
        except anthropic.APIConnectionError:
            raise LLMError(f"anthropic: cannot reach {self.base_url or 'the API'}") from None
        except anthropic.AnthropicError as err:
            raise LLMError(self._scrub(f"anthropic: {type(err).__name__}: {err}")) from None
        # exclude_none keeps the reply to the fields the API actually sent.
        return check_reply(message.model_dump(mode="json", exclude_none=True))

    def _scrub(self, text: str) -> str:
        """One line, bounded, and never the key (an error body might echo a header back)."""
        line = " ".join(text.split())
        if self._key:
            line = line.replace(self._key, "[redacted]")
        return line[:_MAX_DETAIL]


def _status_message(err: anthropic.APIStatusError) -> str:
    status = err.status_code
    if isinstance(err, anthropic.AuthenticationError):
        return f"anthropic: authentication failed ({status}); check ANTHROPIC_API_KEY"
    if isinstance(err, anthropic.PermissionDeniedError):
        return f"anthropic: permission denied ({status})"
    if isinstance(err, anthropic.RateLimitError):
        return f"anthropic: rate limited ({status}); try again later"
    detail = ""
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            detail = f": {inner.get('type', 'error')}: {inner['message']}"
    return f"anthropic: API error {status}{detail}"
