"""The raw membrane client: one unix-socket connection, one JSON line per request. Stdlib.

Reads the socket path and both keys from the cell's environment (`SILO_MEMBRANE`,
`SILO_BASE_KEY`, `SILO_TASK_KEY`) unless given, connects once and reuses the connection,
numbers requests 1, 2, 3... and checks that each reply answers the request just sent.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from .errors import MembraneError, MembraneUnavailable, error_from_reply

DEFAULT_SOCKET = "/run/silo/membrane.sock"
PROTOCOL_VERSION = 1


class Client:
    """A connection to the membrane. Not thread-safe: one request at a time."""

    def __init__(self, path: str | None = None, base_key: str | None = None,
                 task_key: str | None = None, timeout: float | None = None) -> None:
        self.path = path or os.environ.get("SILO_MEMBRANE") or DEFAULT_SOCKET
        self.base_key = base_key if base_key is not None else os.environ.get("SILO_BASE_KEY", "")
        self.task_key = task_key if task_key is not None else os.environ.get("SILO_TASK_KEY", "")
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._next_id = 0

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise MembraneUnavailable(f"cannot connect to {self.path}: {err}") from None
        self._sock = sock
        self._reader = sock.makefile("rb")

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def encode(self, op: str, fields: dict[str, Any]) -> tuple[int, bytes]:
        """The next request id and its line (None-valued fields are left out)."""
        self._next_id += 1
        frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": self._next_id, "op": op,
                                 "base_key": self.base_key, "task_key": self.task_key}
        frame.update((k, v) for k, v in fields.items() if v is not None)
        line = json.dumps(frame, separators=(",", ":"), ensure_ascii=False) + "\n"
        return self._next_id, line.encode("utf-8")

    def request(self, op: str, **fields: Any) -> Any:
        """Send one request and return its `result`, or raise the MembraneError it earned."""
        request_id, line = self.encode(op, fields)
        return self.decode(request_id, self.round_trip(line))

    def round_trip(self, line: bytes) -> bytes:
        """Send one encoded line, return the raw reply line (connecting on first use)."""
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        try:
            self._sock.sendall(line)
            raw: bytes = self._reader.readline()
        except OSError as err:
            self.close()
            raise MembraneUnavailable(f"connection to the membrane failed: {err}") from None
        if not raw:
            self.close()
            raise MembraneUnavailable("the membrane closed the connection")
        return raw

    def decode(self, request_id: int, raw: bytes) -> Any:
        """The result of one reply line, checked to answer `request_id`."""
        try:
            reply = json.loads(raw)
        except ValueError:
            self.close()
            raise MembraneError(0, "bad_reply", "membrane reply is not JSON") from None
        if not isinstance(reply, dict):
            raise MembraneError(0, "bad_reply", "membrane reply is not an object")
        if reply.get("ok") is True:
            if reply.get("id") != request_id:
                self.close()
                raise MembraneError(0, "bad_reply", "membrane reply answers another request")
            return reply.get("result")
        raise error_from_reply(reply.get("error"))

    # -- the ops of protocol v1 --------------------------------------------------------

    def task(self) -> dict[str, Any]:
        return self.request("task")

    def call(self, tool: str, /, **args: Any) -> Any:
        return self.request("call", tool=tool, args=args)

    def note(self, text: str) -> None:
        self.request("note", text=text)

    def finish(self, status: int, summary: dict[str, Any] | None = None,
               output: dict[str, Any] | None = None, redirect: str | None = None) -> None:
        self.request("finish", status=status, summary=summary, output=output, redirect=redirect)

    def llm(self, messages: list[Any], system: str | None = None,
            tools: list[Any] | None = None, max_tokens: int | None = None,
            model: str | None = None) -> dict[str, Any]:
        return self.request("llm", messages=messages, system=system, tools=tools,
                            max_tokens=max_tokens, model=model)
