"""The index schema as a list of forward migrations, applied in order, never edited once shipped.

`PRAGMA user_version` holds how many have been applied.
"""

from __future__ import annotations

import sqlite3

from indexer.index.database import UnknownSchemaVersion
from indexer.index.transactions import write_transaction


def m001_sessions(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            session_id    TEXT PRIMARY KEY,
            agent         TEXT NOT NULL,
            name          TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            updated_at    TEXT,
            message_count INTEGER NOT NULL,
            status        TEXT NOT NULL,
            user_id       TEXT,
            path          TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX sessions_by_created ON sessions (created_at, session_id)")
    conn.execute("CREATE INDEX sessions_by_agent ON sessions (agent, created_at, session_id)")


def m002_bookkeeping(conn: sqlite3.Connection) -> None:
    """What a refresh needs to tell a changed file from an unchanged one."""
    for column in (
        "layout TEXT NOT NULL DEFAULT 'json'",
        "dir TEXT NOT NULL DEFAULT ''",
        "file TEXT NOT NULL DEFAULT ''",
        "size INTEGER",
        "mtime_ns INTEGER",
        "inode INTEGER",
        "ctime_ns INTEGER",
    ):
        conn.execute(f"ALTER TABLE sessions ADD COLUMN {column}")
    conn.execute("CREATE INDEX sessions_by_file ON sessions (dir, file)")
    conn.execute("CREATE INDEX sessions_by_name ON sessions (name)")
    conn.execute(
        """
        CREATE TABLE bad_files (
            dir TEXT NOT NULL, file TEXT NOT NULL, path TEXT NOT NULL, error TEXT NOT NULL,
            duplicate_of TEXT,
            size INTEGER, mtime_ns INTEGER, inode INTEGER, ctime_ns INTEGER,
            PRIMARY KEY (dir, file)
        )
        """
    )
    conn.execute("CREATE TABLE dirs (dir TEXT PRIMARY KEY, digest INTEGER)")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def m003_dir_generations(conn: sqlite3.Connection) -> None:
    """A counter bumped by every write of a directory's rows: lets a refresh that scanned
    without the lock know, once it holds it, whether another process wrote meanwhile."""
    conn.execute("ALTER TABLE dirs ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")


def m004_no_name_index(conn: sqlite3.Connection) -> None:
    """Short-id look-ups of MoFA sessions use (dir, file) now: one B-tree less to write costs
    a cold build of 100,000 sessions a second less."""
    conn.execute("DROP INDEX IF EXISTS sessions_by_name")


def m005_precise_times_and_bad_file_ids(conn: sqlite3.Connection) -> None:
    """`created_at` and `updated_at` at full precision (`YYYY-MM-DDTHH:MM:SS.fffffffffZ`: text
    order is time order, to the nanosecond), and on `bad_files` the id a file's name gives, so
    that a file that cannot be read is still addressable. Rows written before hold neither:
    they go, and the next refresh reads every file again."""
    conn.execute("ALTER TABLE bad_files ADD COLUMN session_id TEXT")
    for table in ("sessions", "bad_files", "dirs"):
        conn.execute(f"DELETE FROM {table}")


def m006_tags(conn: sqlite3.Connection) -> None:
    """`tags`: a session's `metadata.tags` (its strings, as a JSON array), for `list --tag`.
    Rows written before have none: they go, and the next refresh reads every file again."""
    conn.execute("ALTER TABLE sessions ADD COLUMN tags TEXT")
    for table in ("sessions", "bad_files", "dirs"):
        conn.execute(f"DELETE FROM {table}")


def m007_agent_index(conn: sqlite3.Connection) -> None:
    """A narrow index of `agent` alone: `GROUP BY agent` (the README's example query, and
    completion's agents) scans it instead of the three-column `sessions_by_agent`, whose entries
    are four times wider: 6.3 -> 4.4 ms over 100,000 sessions. Listings keep using
    `sessions_by_agent`, the one that also gives their order."""
    conn.execute("CREATE INDEX sessions_agent ON sessions (agent)")


def m008_titles(conn: sqlite3.Connection) -> None:
    """`title` (`mofa.session.title_of`), for `list --wide`, and an index in the order of
    `list --sort updated` (last activity, then id): its `--limit 10` over 100,000 sessions
    reads 10 entries instead of sorting them all (36 -> 0.03 ms; the index costs a cold build
    one more sort). Rows written before have no title: they go, and the next refresh reads
    every file again."""
    conn.execute("ALTER TABLE sessions ADD COLUMN title TEXT")
    conn.execute(
        "CREATE INDEX sessions_by_activity"
        " ON sessions (coalesce(updated_at, created_at), session_id)"
    )
    for table in ("sessions", "bad_files", "dirs"):
        conn.execute(f"DELETE FROM {table}")


MIGRATIONS = [
    m001_sessions,
    m002_bookkeeping,
    m003_dir_generations,
    m004_no_name_index,
    m005_precise_times_and_bad_file_ids,
    m006_tags,
    m007_agent_index,
    m008_titles,
]
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in one transaction with its version bump."""
    version = schema_version(conn)
    if version > LATEST_VERSION or version < 0:
        raise UnknownSchemaVersion(f"unknown index schema version {version}")
    while version < LATEST_VERSION:
        with write_transaction(conn):
            if schema_version(conn) == version:  # another process may have migrated meanwhile
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")
        version = schema_version(conn)
    return version
