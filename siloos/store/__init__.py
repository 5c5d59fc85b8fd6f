"""The task store: SiloOS's own state in `.silo/state.db` (design §8, §11).

Holds tasks, hops, events, the audit trail, revoked key ids, LLM usage and idempotent
exit results — tokenized values only. Public names:

- `StateStore.open(path)` and its methods (see `siloos.store.store`);
- `TASK_STATES`, `HOP_END_STATUSES`; the JSON key sets of design §10 in `siloos.store.shapes`;
- `PlaintextGuard`, the detector hook type; the errors in `siloos.store.errors`.
"""

from siloos.store.encoding import PlaintextGuard
from siloos.store.errors import (
    HopConflict,
    PlaintextRefused,
    StateDatabaseError,
    StoreError,
    UnknownTask,
)
from siloos.store.ids import is_task_id, new_task_id
from siloos.store.records import AuditRecord, StoredExitResult
from siloos.store.schema import FINAL_STATES, TASK_STATES
from siloos.store.store import HOP_END_STATUSES, StateStore

__all__ = [
    "FINAL_STATES",
    "HOP_END_STATUSES",
    "TASK_STATES",
    "AuditRecord",
    "HopConflict",
    "PlaintextGuard",
    "PlaintextRefused",
    "StateDatabaseError",
    "StateStore",
    "StoreError",
    "StoredExitResult",
    "UnknownTask",
    "is_task_id",
    "new_task_id",
]
