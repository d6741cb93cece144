"""Users' SQL against the index, strictly read-only.

SQLite itself enforces it, not string matching: the connection is opened read-only
(`mode=ro`), with `PRAGMA query_only`, and an authorizer that allows reading tables, calling
functions and a few read-only pragmas, and denies everything else (writes, ATTACH, schema
changes, transactions, writing pragmas). `execute` refuses several statements in one string.
"""

from __future__ import annotations

import os
import sqlite3

from mofa.errors import QueryError

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "table_list",
    "user_version",
    "schema_version",
    "database_list",
    "collation_list",
    "function_list",
    "compile_options",
    "data_version",  # FTS5 reads it (the `messages` view); with no argument it only reads
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _authorize(action, first, second, database, trigger):
    # A table-valued function (json_each, json_tree, an FTS5 table) declares its columns when
    # first used, which SQLite checks as an update of sqlite_master's columns; SQLite itself
    # refuses any real write to sqlite_master (no writable_schema: that pragma is denied).
    if action == sqlite3.SQLITE_UPDATE and first == "sqlite_master" and trigger is None:
        return sqlite3.SQLITE_OK
    if action in _ALLOWED:
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (first or "").lower() in _READ_PRAGMAS:
        if (
            first.lower() in ("user_version", "schema_version", "data_version")
            and second is not None
        ):
            return sqlite3.SQLITE_DENY  # setting them writes
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


# Pages read through a memory map, not one pread each: ~1 ms less of a query that scans the
# 100,000 entries of an index (read-only connections: nothing is ever written through it).
MMAP_BYTES = 256 * 1024 * 1024


def connect_readonly(path: str) -> sqlite3.Connection:
    uri_path = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    conn = sqlite3.connect(
        f"file:{uri_path}?mode=ro",
        uri=True,
        isolation_level=None,
        timeout=60.0,
        check_same_thread=False,
    )
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    make_readonly(conn)
    return conn


def make_readonly(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)


_CHECK_EVERY = 10_000  # SQLite VM instructions between two looks at the clock


class QueryRows:
    """The rows of a running query, fetched one at a time (a row is measured before the next
    is fetched: memory stays bounded by the size limit).

    Its `QueryLimits`: past the timeout (counted from the start, writing the output included)
    the query is interrupted and QueryTimeout raised; a value or row larger than the size
    limit raises QueryTooLarge (SQLite refuses to build a longer value at all). Ctrl-C
    interrupts it too: Python's SIGINT handler runs in the progress handler, whose exception
    makes SQLite stop; that comes back here as KeyboardInterrupt.
    """

    def __init__(self, conn: sqlite3.Connection, sql: str, timeout: float | None):
        from mofa.stores.queries import QueryLimits

        self.conn = conn
        self.limits = QueryLimits(timeout, conn.interrupt)
        self._interrupted = False
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, min(self.limits.max_bytes, 2**31 - 1))
        conn.set_progress_handler(self._progress, _CHECK_EVERY)
        try:
            self.cursor = self._step(lambda: conn.execute(sql))
        except BaseException:
            self.limits.close()
            raise
        self.columns = [description[0] for description in self.cursor.description or ()]

    def _progress(self) -> int:
        try:
            return 1 if self.limits.past_deadline() else 0
        except KeyboardInterrupt:  # SQLite would swallow it: remember it, and stop
            self._interrupted = True
            return 1

    def _step(self, action):
        try:
            return action()
        except sqlite3.DatabaseError as error:
            raise self._failure(error) from None

    def _failure(self, error: sqlite3.DatabaseError) -> BaseException:
        if self.limits.expired:
            return self.limits.timed_out()
        if isinstance(error, sqlite3.OperationalError) and (
            self._interrupted or "interrupt" in str(error)
        ):
            return KeyboardInterrupt()
        if isinstance(error, sqlite3.DataError) and "too big" in str(error):
            return self.limits.too_large()
        return _query_error(error)

    def __iter__(self):
        limits, fetch = self.limits, self.cursor.fetchone
        while True:
            limits.check_time()  # after the previous row was written: output time counts
            try:
                row = fetch()
            except sqlite3.DatabaseError as error:
                raise self._failure(error) from None
            if row is None:
                return
            limits.row_size(row)
            yield row

    def close(self) -> None:
        self.limits.close()
        self.conn.close()


def _query_error(error: sqlite3.DatabaseError) -> Exception:

    message = str(error)
    if "authoriz" in message or "prohibited" in message or "readonly" in message:
        return QueryError(f"query refused: the index is read-only here ({message})")
    return QueryError(f"SQL error: {message}")


def mentions_messages(sql: str) -> bool:
    """Whether a user's query may read the `messages` view, whose data (the search data's,
    indexer.index.search) is then brought up to date first."""
    import re

    return re.search(r"\bmessages\b", sql, re.IGNORECASE) is not None


def run_query(
    path: str, sql: str, timeout: float | None = 30.0, conn: sqlite3.Connection | None = None
) -> QueryRows:
    """The running query `sql` (columns, rows) on the index at `path`, or on `conn` (an index
    in memory, made read-only here); raises QueryError. Close it when done."""
    if conn is None:
        try:
            conn = connect_readonly(path)
        except sqlite3.Error as error:
            raise _refused(f"cannot open the index read-only: {error}") from None
    else:
        make_readonly(conn)
    try:
        return QueryRows(conn, sql, timeout)
    except (sqlite3.ProgrammingError, sqlite3.Warning) as error:
        conn.close()
        raise _refused(f"query refused: {error}") from None
    except BaseException:  # QueryError, QueryTimeout and QueryTooLarge included
        conn.close()
        raise


def _refused(message: str) -> Exception:

    return QueryError(message)


def distinct_values(path: str, root: str, column: str, prefix: str, limit: int) -> list[str]:
    """Distinct values of a `sessions` column that start with `prefix`, read-only from the
    index of `root` at `path` as it is (shell completion: no refresh); [] when there is none
    yet, or it is another root's."""

    if (
        column not in ("session_id", "name", "agent")
        or path == ":memory:"
        or not os.path.isfile(path)
    ):
        return []
    try:
        conn = connect_readonly(path)
    except sqlite3.Error:
        return []
    try:
        owner = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        if owner is None or owner[0] != os.path.realpath(root):
            return []
        # A range, not LIKE: case-sensitive as ids are.
        return [
            value
            for (value,) in conn.execute(
                f"SELECT DISTINCT {column} FROM sessions WHERE {column} >= ? AND {column} < ?"
                f" ORDER BY {column} LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit),
            )
        ]
    except sqlite3.Error:
        return []
    finally:
        conn.close()
