"""SiloOS's own task ids: `task_<16 chars of lowercase base32>`.

They name SiloOS's work, not a person, so they may appear in keys, logs and the cell
(design §6). 80 random bits make them unguessable, so one task id gives no handle on
another.
"""

from __future__ import annotations

import base64
import re
import secrets

TASK_ID = re.compile(r"^task_[a-z2-7]{16}$")


def new_task_id() -> str:
    """A fresh random task id."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return f"task_{raw}"


def is_task_id(value: object) -> bool:
    """Whether `value` has the shape of a task id (used to refuse junk early)."""
    return isinstance(value, str) and bool(TASK_ID.match(value))
