"""The LLM log: one JSONL line per model request and reply, `.silo/logs/llm.jsonl` (design §12).

The membrane writes here with data it has already tokenized; this module never sees the
real values. As a second line of defence the writer can be given a `guard` (for instance
the privacy detector) that inspects each line before it is written: a line the guard
objects to is refused, so the log fails closed rather than keeping a plaintext value.
Totals per task and agent are read back from the same file (the token accounting).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from siloos.errors import InputError
from siloos.llm.base import LLMError

LOG_NAME = "llm.jsonl"

#: Inspects one serialized line; returns a reason to refuse it, or None when it is clean.
Guard = Callable[[str], str | None]


class LLMLog:
    """Appends request/reply records; safe to share between threads of one process."""

    def __init__(self, logs_dir: Path | str, guard: Guard | None = None) -> None:
        self.path = Path(logs_dir) / LOG_NAME
        self._guard = guard
        self._lock = threading.Lock()

    def append(self, *, task_id: str, hop: int, agent: str, model: str,
               request: dict[str, Any], reply: dict[str, Any] | None = None,
               error: str | None = None) -> dict[str, Any]:
        """Write one record (a reply, or the error that took its place); returns it."""
        usage = (reply or {}).get("usage") or {}
        record = {
            "ts": round(time.time(), 3), "task_id": task_id, "hop": hop, "agent": agent,
            "model": model,
            "usage": {"input_tokens": int(usage.get("input_tokens", 0)),
                      "output_tokens": int(usage.get("output_tokens", 0))},
            "request": request, "reply": reply, "error": error,
        }
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
        if self._guard is not None:
            reason = self._guard(line)
            if reason:
                raise LLMError(f"refusing to write the LLM log: {reason}")
        data = (line + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # One write on an O_APPEND descriptor keeps concurrent writers' lines whole.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first; a damaged line is reported with its line number."""
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise InputError(f"damaged log line: {err.msg}", path=self.path,
                                     line=lineno) from None
                if isinstance(record, dict):
                    yield record

    def totals(self, task_id: str | None = None) -> dict[tuple[str, str], dict[str, int]]:
        """Calls and tokens per (task_id, agent), optionally for one task only."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for record in self.records():
            if task_id is not None and record.get("task_id") != task_id:
                continue
            key = (str(record.get("task_id")), str(record.get("agent")))
            row = out.setdefault(key, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
            usage = record.get("usage") or {}
            row["calls"] += 1
            row["input_tokens"] += int(usage.get("input_tokens", 0))
            row["output_tokens"] += int(usage.get("output_tokens", 0))
        return out
