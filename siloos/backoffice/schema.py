"""Tables of the demo back office (design §11), created once per database file.

Amounts are stored as REAL holding values already validated to whole cents, so the
file reads naturally in any SQLite tool; all arithmetic goes through `money.to_cents`.
"""

from __future__ import annotations

import sqlite3

VERSION = 1

CUSTOMER_COLUMNS = ("id", "name", "email", "phone", "address", "dob")
ORDER_COLUMNS = ("id", "customer_id", "item", "amount", "status", "created_at")
ORDER_STATUSES = ("processing", "shipped", "delivered", "returned", "cancelled")

DDL = (
    """CREATE TABLE IF NOT EXISTS customers (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        email   TEXT NOT NULL,
        phone   TEXT NOT NULL,
        address TEXT NOT NULL,
        dob     TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS orders (
        id          TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        item        TEXT NOT NULL,
        amount      REAL NOT NULL CHECK (amount >= 0),
        status      TEXT NOT NULL,
        created_at  TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer_id)",
    """CREATE TABLE IF NOT EXISTS refunds (
        id              TEXT PRIMARY KEY,
        order_id        TEXT NOT NULL REFERENCES orders(id),
        amount          REAL NOT NULL CHECK (amount > 0),
        reason          TEXT NOT NULL,
        task_id         TEXT,
        hop             INTEGER,
        idempotency_key TEXT NOT NULL UNIQUE,
        created_at      TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id              TEXT PRIMARY KEY,
        to_addr         TEXT NOT NULL,
        subject         TEXT NOT NULL,
        body            TEXT NOT NULL,
        template        TEXT NOT NULL,
        task_id         TEXT,
        hop             INTEGER,
        idempotency_key TEXT NOT NULL UNIQUE,
        sent_at         TEXT NOT NULL
    )""",
)


def create(conn: sqlite3.Connection) -> None:
    """Create the tables if missing; refuse a file from a newer version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise sqlite3.DatabaseError(f"back office schema version {version} is newer than "
                                    f"this SiloOS understands ({VERSION})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
