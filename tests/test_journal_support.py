"""Helpers shared by the journal's tests and their review (no tests here)."""

from __future__ import annotations

from siloos.store import StateStore


def task_in(store: StateStore) -> str:
    """A running task with hop 1 started: what a membrane's journal belongs to."""
    task_id = store.create_task(agent="a", state="running")
    store.start_hop(task_id, 1, "a", "jti-1")
    return task_id
