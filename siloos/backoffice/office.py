"""`BackOffice`: the demo system of record in `.silo/backoffice.db` (design §11).

It stands in for a company's real customer, order, refund and mail systems, so it holds
real (here: fictional) personal data and real ids; SiloOS reaches it only through exits,
which tokenize what comes back. Business rules a real refund system would enforce live
here too — only delivered orders are refunded, never more than the order total, and
every refund or message is idempotent per key — so that the exit layer is not the only
line of defence. A rule that declines raises `Refused`; an unknown id raises `NotFound`.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from siloos.backoffice import schema
from siloos.backoffice.csv_import import EMAIL, TABLES, read_table
from siloos.backoffice.errors import BackOfficeError, NotFound, Refused
from siloos.backoffice.money import BadAmount, from_cents, to_cents
from siloos.errors import InputError

DEMO_PACKAGE = "siloos.backoffice"
DEMO_FILES = (("customers", "demo/customers.csv"), ("orders", "demo/orders.csv"))
REFUNDABLE = "delivered"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BackOffice:
    """The demo back office. One connection shared by threads under a lock."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | str) -> BackOffice:
        """Open (creating if needed) the back office database at `path`."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise InputError(f"cannot open the back office: {err}", path=path) from None
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)  # personal data: owner only
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            schema.create(conn)
        except sqlite3.DatabaseError as err:
            conn.close()
            raise InputError(f"not a usable back office database: {err}", path=path) from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> BackOffice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so check-then-insert sequences
        # (idempotency, refund totals) cannot interleave with another writer.
        with self.lock:
            if self.conn.in_transaction:  # nested: join the outer transaction
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- customers and orders ----------------------------------------------------------

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        """`{customer, name, email, phone, address, dob}`; `NotFound` if unknown."""
        with self.lock:
            row = self.conn.execute("SELECT * FROM customers WHERE id = ?",
                                    (str(customer_id),)).fetchone()
        if row is None:
            raise NotFound("no such customer")
        return {"customer": row["id"], "name": row["name"], "email": row["email"],
                "phone": row["phone"], "address": row["address"], "dob": row["dob"]}

    def list_orders(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's orders, oldest first; `NotFound` if the customer is unknown."""
        self.get_customer(customer_id)
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at, id",
                (str(customer_id),)).fetchall()
        return [_order(r) for r in rows]

    def get_order(self, order_id: str) -> dict[str, Any]:
        """`{order, item, amount, status, created_at, customer}`; `NotFound` if unknown."""
        with self.lock:
            row = self.conn.execute("SELECT * FROM orders WHERE id = ?",
                                    (str(order_id),)).fetchone()
        if row is None:
            raise NotFound("no such order")
        return _order(row)

    # -- refunds -----------------------------------------------------------------------

    def issue_refund(self, *, order_id: str, amount: float, reason: str, task_id: str | None,
                     hop: int | None, idempotency_key: str) -> str:
        """Refund `amount` on a delivered order and return the refund id.

        The same idempotency key returns the same refund id without a second refund; the
        key reused for a different refund is refused. Refunds on an order never add up to
        more than its amount.
        """
        try:
            cents = to_cents(amount)
        except BadAmount as err:
            raise Refused(f"refund amount {err}") from None
        if cents <= 0:
            raise Refused("refund amount must be positive")
        if not isinstance(reason, str) or not reason.strip():
            raise Refused("a refund needs a reason")
        _need_key(idempotency_key)
        with self._write() as conn:
            done = conn.execute("SELECT * FROM refunds WHERE idempotency_key = ?",
                                (idempotency_key,)).fetchone()
            if done is not None:
                if (done["order_id"], to_cents(done["amount"]), done["reason"]) != \
                        (order_id, cents, reason):
                    raise Refused("idempotency key already used for a different refund")
                return str(done["id"])
            order = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
            if order is None:
                raise NotFound("no such order")
            if order["status"] != REFUNDABLE:
                raise Refused(f"order is {order['status']}; only delivered orders "
                                  "can be refunded")
            total = to_cents(order["amount"])
            refunded = sum(to_cents(r["amount"]) for r in conn.execute(
                "SELECT amount FROM refunds WHERE order_id = ?", (order_id,)))
            if refunded + cents > total:
                raise Refused(
                    f"refund of {from_cents(cents):.2f} would exceed the order total "
                    f"{from_cents(total):.2f} ({from_cents(refunded):.2f} already refunded)")
            refund_id = f"rf_{secrets.token_hex(8)}"
            conn.execute("INSERT INTO refunds (id, order_id, amount, reason, task_id, hop,"
                         " idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (refund_id, order_id, from_cents(cents), reason, task_id, hop,
                          idempotency_key, _now()))
        return refund_id

    def refunds(self, order_id: str | None = None) -> list[dict[str, Any]]:
        """Refunds issued, oldest first (optionally for one order)."""
        sql, params = "SELECT * FROM refunds", ()
        if order_id is not None:
            sql, params = sql + " WHERE order_id = ?", (order_id,)
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY rowid", params).fetchall()
        return [{"refund_id": r["id"], "order": r["order_id"], "amount": r["amount"],
                 "reason": r["reason"], "task_id": r["task_id"], "hop": r["hop"],
                 "created_at": r["created_at"]} for r in rows]

    # -- outbox ------------------------------------------------------------------------

    def send_email(self, *, to: str, subject: str, body: str, template: str,
                   task_id: str | None, hop: int | None, idempotency_key: str) -> str:
        """Put a rendered message in the outbox and return its message id (idempotent)."""
        # `to` must arrive hydrated; an unresolved token or junk never gets "sent".
        if not isinstance(to, str) or not EMAIL.match(to):
            raise Refused("recipient is not an email address")
        for name, value in (("subject", subject), ("body", body), ("template", template)):
            if not isinstance(value, str):
                raise Refused(f"email {name} must be text")
        _need_key(idempotency_key)
        with self._write() as conn:
            done = conn.execute("SELECT * FROM outbox WHERE idempotency_key = ?",
                                (idempotency_key,)).fetchone()
            if done is not None:
                if (done["to_addr"], done["subject"], done["body"], done["template"]) != \
                        (to, subject, body, template):
                    raise Refused("idempotency key already used for a different message")
                return str(done["id"])
            message_id = f"msg_{secrets.token_hex(8)}"
            conn.execute("INSERT INTO outbox (id, to_addr, subject, body, template, task_id,"
                         " hop, idempotency_key, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (message_id, to, subject, body, template, task_id, hop,
                          idempotency_key, _now()))
        return message_id

    def outbox(self) -> list[dict[str, Any]]:
        """Every message sent, oldest first."""
        with self.lock:
            rows = self.conn.execute("SELECT * FROM outbox ORDER BY rowid").fetchall()
        return [{"message_id": r["id"], "to": r["to_addr"], "subject": r["subject"],
                 "body": r["body"], "template": r["template"], "task_id": r["task_id"],
                 "hop": r["hop"], "sent_at": r["sent_at"]} for r in rows]

    # -- loading data ------------------------------------------------------------------

    def count(self, table: str) -> int:
        if table not in (*TABLES, "refunds", "outbox"):
            raise BackOfficeError(f"unknown table {table!r}")
        with self.lock:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def import_csv(self, table: str, path: Path | str) -> int:
        """Load a customers or orders CSV; all rows or none. Returns the rows imported."""
        rows = read_table(table, path)
        columns = TABLES[table]
        with self._write() as conn:
            for row in rows:
                if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row.id,)).fetchone():
                    raise InputError(f"{table}.id: {row.id!r} already exists in the back office",
                                     path=path, line=row.line)
                if table == "orders" and not conn.execute(
                        "SELECT 1 FROM customers WHERE id = ?", (row.values[1],)).fetchone():
                    raise InputError(f"orders.customer_id: no customer {row.values[1]!r} in "
                                     "the back office (import customers first)",
                                     path=path, line=row.line)
                conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                             f"({', '.join('?' for _ in columns)})", row.values)
        return len(rows)

    def seed_demo(self) -> dict[str, int]:
        """Load the shipped demo customers and orders; a no-op once they are loaded."""
        files = resources.files(DEMO_PACKAGE)
        first = read_table("customers", Path(str(files.joinpath(DEMO_FILES[0][1]))))[0]
        with self._write() as conn:  # both files or neither
            if conn.execute("SELECT 1 FROM customers WHERE id = ?", (first.id,)).fetchone():
                return {table: 0 for table, _ in DEMO_FILES}
            loaded = {}
            for table, name in DEMO_FILES:
                with resources.as_file(files.joinpath(name)) as csv_path:
                    loaded[table] = self.import_csv(table, csv_path)
        return loaded


def _order(row: sqlite3.Row) -> dict[str, Any]:
    return {"order": row["id"], "item": row["item"], "amount": row["amount"],
            "status": row["status"], "created_at": row["created_at"],
            "customer": row["customer_id"]}


def _need_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise Refused("missing idempotency key")
