"""Users' SQL against the index, strictly read-only.

SQLite itself enforces it, not string matching: the connection is opened read-only
(`mode=ro`), with `PRAGMA query_only`, and an authorizer that allows reading tables, calling
functions and a few read-only pragmas, and denies everything else (writes, ATTACH, schema
changes, transactions, writing pragmas). `execute` refuses several statements in one string.
"""

from __future__ import annotations

import sqlite3

from mofa.errors import QueryError

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                 "foreign_key_list", "table_list", "user_version", "schema_version",
                 "database_list", "collation_list", "function_list", "compile_options"}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _authorize(action, first, second, database, trigger):
    if action in _ALLOWED:
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (first or "").lower() in _READ_PRAGMAS:
        if first.lower() in ("user_version", "schema_version") and second is not None:
            return sqlite3.SQLITE_DENY  # setting them writes
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def connect_readonly(path: str) -> sqlite3.Connection:
    uri_path = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    conn = sqlite3.connect(f"file:{uri_path}?mode=ro", uri=True, isolation_level=None,
                           timeout=60.0, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)
    return conn


def run_query(path: str, sql: str) -> tuple[list[str], sqlite3.Cursor]:
    """Column names and a cursor over the rows of `sql`; raises QueryError."""
    try:
        conn = connect_readonly(path)
    except sqlite3.Error as error:
        raise QueryError(f"cannot open the index read-only: {error}") from None
    try:
        cursor = conn.execute(sql)
    except sqlite3.ProgrammingError as error:
        conn.close()
        raise QueryError(f"query refused: {error}") from None
    except sqlite3.DatabaseError as error:
        conn.close()
        message = str(error)
        if "authoriz" in message or "prohibited" in message or "readonly" in message:
            raise QueryError(f"query refused: the index is read-only here ({message})") from None
        raise QueryError(f"SQL error: {message}") from None
    except sqlite3.Warning as error:
        conn.close()
        raise QueryError(f"query refused: {error}") from None
    columns = [description[0] for description in cursor.description or ()]
    return columns, cursor
