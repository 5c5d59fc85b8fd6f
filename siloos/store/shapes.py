"""Row → dict conversions, fixing the JSON shapes of design §10 in one place.

`silo tasks --json`, `silo show --json` and `GET /tasks/{id}` all print what these
functions return, so the key sets here are a contract: change them only with the design.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from siloos.store.encoding import loads

#: `silo tasks --json`: one of these per task.
TASK_LIST_KEYS = ("task_id", "state", "agent", "workflow", "reason", "created_at", "updated_at")
#: `silo show --json`: top level, and each entry of `hops`.
SHOW_KEYS = ("task_id", "state", "reason", "hops", "events")
SHOW_HOP_KEYS = ("hop", "agent", "status", "summary", "output", "key_jti", "started_at",
                 "ended_at", "stdout", "stderr")
#: Event fields the store sets; an event's own data may not reuse these names, because
#: events are shown flat (`{"kind": "key_revoked", "hop": 1, "jti": ..., ...}`).
EVENT_RESERVED = ("id", "kind", "hop", "at")


def task_summary(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in TASK_LIST_KEYS}


def task_full(row: sqlite3.Row) -> dict[str, Any]:
    """Everything the router needs to run a task (tokenized input included)."""
    return {
        "task_id": row["task_id"], "state": row["state"], "agent": row["agent"],
        "workflow": row["workflow"], "channel": row["channel"],
        "customer_scope": row["customer_scope"], "customer_token": row["customer_token"],
        "case_token": row["case_token"], "input": loads(row["input_json"]),
        "reason": row["reason"], "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def hop_full(row: sqlite3.Row) -> dict[str, Any]:
    """A hop with everything stored about it (the show shape plus `redirect`)."""
    return {
        "hop": row["hop"], "agent": row["agent"], "status": row["status"],
        "summary": loads(row["summary_json"]), "output": loads(row["output_json"]),
        "redirect": row["redirect"], "key_jti": row["key_jti"],
        "started_at": row["started_at"], "ended_at": row["ended_at"],
        "stdout": row["stdout"], "stderr": row["stderr"],
    }


def hop_show(row: sqlite3.Row) -> dict[str, Any]:
    full = hop_full(row)
    return {k: full[k] for k in SHOW_HOP_KEYS}


def event(row: sqlite3.Row) -> dict[str, Any]:
    data = loads(row["data_json"]) or {}
    return {"id": row["id"], "kind": row["kind"], "hop": row["hop"], "at": row["at"], **data}


def audit_entry(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "task_id": row["task_id"], "hop": row["hop"], "op": row["op"],
        "tool": row["tool"], "ok": bool(row["ok"]), "code": row["code"],
        "reason": row["reason"], "detail": loads(row["detail_json"]), "at": row["at"],
    }
