"""The membrane's refusals as Python exceptions, one class per kind. Stdlib only.

Every refusal carries the membrane's `code`, `type` and `message` (design §5), so an
agent can tell a forbidden call (403) from an exhausted budget (429) and act on it.
"""

from __future__ import annotations


class MembraneError(Exception):
    """A request the membrane refused, or a membrane that could not be reached."""

    def __init__(self, code: int, type: str, message: str) -> None:
        super().__init__(f"{code} {type}: {message}")
        self.code = code
        self.type = type
        self.message = message


class BadRequest(MembraneError):
    """400: the frame or the arguments were malformed."""


class Unauthorized(MembraneError):
    """401: a key was missing, forged, expired or of the wrong kind."""


class Forbidden(MembraneError):
    """403: capability missing, token out of scope, escalation target not allowed."""


class LimitExceeded(Forbidden):
    """403 limit_exceeded: a granted constraint (an amount, a template list) refused it."""


class NotFound(MembraneError):
    """404: unknown op or tool."""


class TaskInactive(MembraneError):
    """409: the hop has finished or its key was revoked."""


class FrameTooLarge(MembraneError):
    """413: the request line was over the membrane's 1 MiB limit."""


class BudgetExhausted(MembraneError):
    """429: tool_calls, llm_calls or llm_tokens are used up for this hop."""


class ExitFailed(MembraneError):
    """500: the exit failed on the host side."""


class MembraneUnavailable(MembraneError):
    """The socket could not be reached or the connection broke (no reply to read)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unavailable", message)


_BY_TYPE: dict[str, type[MembraneError]] = {"limit_exceeded": LimitExceeded}
_BY_CODE: dict[int, type[MembraneError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: TaskInactive,
    413: FrameTooLarge, 429: BudgetExhausted, 500: ExitFailed,
}


def error_from_reply(error: object) -> MembraneError:
    """The exception for a reply's `error` object (any shape: a broken reply still raises)."""
    if not isinstance(error, dict):
        return MembraneError(0, "bad_reply", "membrane sent an error without details")
    code = error.get("code")
    kind = error.get("type")
    message = error.get("message")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    kind = kind if isinstance(kind, str) else "error"
    message = message if isinstance(message, str) else ""
    cls = _BY_TYPE.get(kind) or _BY_CODE.get(code, MembraneError)
    return cls(code, kind, message)
