"""The store's read cache (revocations, hop state) must be exactly as fresh as the database.

Every scenario first warms the cache with a "not revoked" / "active" answer, then changes
the truth through another path — this store, another connection, another process, the
keys package's own `SqliteRevocations` (what `silo keys revoke` uses) — and checks that
the very next read sees it. No timings: only correctness of the mechanism.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from siloos.keys.revocations import SqliteRevocations
from siloos.store import StateStore

JTI = "task-jti-0001"
BASE_JTI = "base-jti-0001"


@pytest.fixture
def store(tmp_path):
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def running(store):
    task_id = store.create_task(agent="refund-agent", state="running")
    store.start_hop(task_id, 1, "refund-agent", JTI)
    return task_id


def warm(store: StateStore, task_id: str) -> None:
    # Twice: the second answer comes from the cache.
    for _ in range(2):
        assert store.hop_gate(task_id, 1, JTI, BASE_JTI) is None
        assert store.is_revoked(JTI) is False
        assert store.hop_active(task_id, 1) is True


def test_revocation_by_this_store_counts_at_once(store, running):
    warm(store, running)
    store.revoke(JTI, task_id=running, hop=1, reason="hop ended")
    assert store.is_revoked(JTI) is True
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "task_key_revoked"


def test_revocation_through_keys_package_counts_at_once(store, running, tmp_path):
    warm(store, running)
    assert SqliteRevocations(tmp_path / "state.db").revoke(BASE_JTI, reason="operator")
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "base_key_revoked"
    assert store.is_revoked(BASE_JTI) is True


def test_revocation_by_another_process_counts_at_once(store, running, tmp_path):
    warm(store, running)
    code = ("import sys; from siloos.keys.revocations import SqliteRevocations; "
            "SqliteRevocations(sys.argv[1]).revoke(sys.argv[2], reason='cli')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "state.db"), JTI], check=True)
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "task_key_revoked"


def test_hop_ended_by_another_store_counts_at_once(store, running, tmp_path):
    warm(store, running)
    with StateStore.open(tmp_path / "state.db") as other:
        other.finish_hop(running, 1, status=200)
    assert store.hop_active(running, 1) is False
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "hop_inactive"


def test_task_closed_by_this_store_ends_the_hop(store, running):
    warm(store, running)
    store.set_state(running, "aborted", reason="operator")
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "hop_inactive"


def test_a_hop_that_starts_later_is_seen(store):
    task_id = store.create_task(agent="refund-agent", state="running")
    assert store.hop_active(task_id, 1) is False  # cached "no"
    assert store.hop_active(task_id, 1) is False
    store.start_hop(task_id, 1, "refund-agent", JTI)
    assert store.hop_active(task_id, 1) is True


def test_reads_inside_a_transaction_see_its_own_writes(store, running):
    warm(store, running)
    with store.transaction():
        store.revoke(JTI, task_id=running, hop=1)
        assert store.is_revoked(JTI) is True
        assert store.hop_gate(running, 1, JTI, BASE_JTI) == "task_key_revoked"


def test_a_rolled_back_revocation_is_not_remembered(store, running):
    warm(store, running)
    with pytest.raises(RuntimeError), store.transaction():
        store.revoke(JTI, task_id=running, hop=1)
        assert store.is_revoked(JTI) is True
        raise RuntimeError("roll back")
    assert store.is_revoked(JTI) is False
    assert store.hop_gate(running, 1, JTI, BASE_JTI) is None


def test_gate_reports_the_first_failure_in_order(store, running, tmp_path):
    store.revoke(BASE_JTI)
    store.finish_hop(running, 1, status=200)
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "base_key_revoked"
    store.revoke(JTI)
    assert store.hop_gate(running, 1, JTI, BASE_JTI) == "task_key_revoked"


def test_audit_and_exit_results_keep_the_cache_but_not_stale_answers(store, running,
                                                                     tmp_path):
    warm(store, running)
    # Log-only writes (audit rows, exit results) leave revocation answers valid...
    store.audit(running, 1, op="call", ok=True, code=200, reason="ok")
    store.record_exit_result(f"{running}/1/1", task_id=running, hop=1, seq=1, tool="t",
                             result={})
    assert store.hop_gate(running, 1, JTI, BASE_JTI) is None
    # ...and a revocation right after them is still seen on the next read.
    SqliteRevocations(tmp_path / "state.db").revoke(JTI)
    assert store.is_revoked(JTI) is True
