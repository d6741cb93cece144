"""Write transactions on the index's autocommit connections."""

from __future__ import annotations

import contextlib
import sqlite3


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE (take the write lock now, waiting up to the busy timeout), COMMIT on
    success, ROLLBACK on any failure, interrupts included."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
