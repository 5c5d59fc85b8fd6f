"""A local HTTP server that speaks enough of the Messages API for tests (`POST /v1/messages`).

The real `anthropic` client is pointed at it with `base_url`, so tests exercise the SDK's
own request building, headers and error handling. The server records every request
(path, headers, JSON body) and answers from a queue: each queued item is a reply message
dict (sent with 200), a `(status, error_type, message)` triple sent as an API error, or a
function of the request body returning either (for replies that echo run-time tokens).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_use_reply(name: str, tool_input: dict[str, Any], tool_id: str = "toolu_fake_1",
                   text: str = "Let me check.") -> dict[str, Any]:
    """A reply asking for one tool call."""
    return {"id": "msg_fake_tool", "type": "message", "role": "assistant",
            "model": "", "stop_reason": "tool_use", "stop_sequence": None,
            "content": [{"type": "text", "text": text},
                        {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}],
            "usage": {"input_tokens": 120, "output_tokens": 30}}


def text_reply(text: str = "Done.") -> dict[str, Any]:
    """A reply that ends the turn with text only."""
    return {"id": "msg_fake_end", "type": "message", "role": "assistant", "model": "",
            "stop_reason": "end_turn", "stop_sequence": None,
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": 200, "output_tokens": 10}}


class FakeMessagesAPI:
    """Start with `with FakeMessagesAPI() as api:`; `api.base_url` for the client."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def enqueue(self, *items: Any) -> None:
        with self._lock:
            self.queue.extend(items)

    def __enter__(self) -> FakeMessagesAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            item = self.queue.popleft() if self.queue else (500, "api_error", "no reply queued")
        if callable(item):
            item = item(request["body"])
        if isinstance(item, tuple):
            status, kind, message = item
            return status, {"type": "error", "error": {"type": kind, "message": message}}
        reply = dict(item)
        reply["model"] = reply.get("model") or (request["body"] or {}).get("model", "")
        return 200, reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = None
                request = {"path": self.path, "headers": {k.lower(): v for k, v in
                                                          self.headers.items()}, "body": body}
                if self.path.split("?")[0] != "/v1/messages":
                    status, reply = 404, {"type": "error", "error": {
                        "type": "not_found_error", "message": self.path}}
                    with api._lock:
                        api.requests.append(request)
                else:
                    status, reply = api._next(request)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
