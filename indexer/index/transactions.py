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


@contextlib.contextmanager
def bulk_write(conn: sqlite3.Connection):
    """A bulk write: more page cache, and no fsync. The index is disposable: a crash of the
    program loses nothing; a crash of the machine costs at worst a rebuild."""
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA synchronous = OFF")
    try:
        yield conn
    finally:
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -2000")
