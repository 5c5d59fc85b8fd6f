"""Concurrent writers: threads sharing one store, and two stores on one file (WAL)."""

from __future__ import annotations

import threading

from siloos.store import StateStore

PER_THREAD = 40


def hammer(store: StateStore, failures: list[BaseException], barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        for i in range(PER_THREAD):
            task_id = store.create_task(agent="refund-agent", input={"i": i})
            store.start_hop(task_id, 1, "refund-agent", f"{task_id}-jti")
            store.audit(task_id, 1, op="call", tool="orders.get", ok=True, code=200)
            store.finish_hop(task_id, 1, status=200, summary={"i": i})
            store.revoke(f"{task_id}-jti", task_id=task_id, hop=1, reason="hop end")
    except BaseException as err:  # collected and asserted on in the main thread
        failures.append(err)


def run_threads(stores: list[StateStore]) -> list[BaseException]:
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(stores))
    threads = [threading.Thread(target=hammer, args=(s, failures, barrier)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def check(path, writers: int) -> None:
    with StateStore.open(path) as store:
        tasks = store.list_tasks()
        assert len(tasks) == writers * PER_THREAD
        counts = {table: store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("hops", "audit", "revoked")}
        assert counts == {t: writers * PER_THREAD for t in counts}
        assert store.unfinished_hops() == []


def test_two_threads_share_one_store(tmp_path):
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        assert run_threads([store, store]) == []
    check(path, 2)


def test_two_connections_write_the_same_file(tmp_path):
    path = tmp_path / "state.db"
    stores = [StateStore.open(path), StateStore.open(path)]
    try:
        assert run_threads(stores) == []
    finally:
        for s in stores:
            s.close()
    check(path, 2)
