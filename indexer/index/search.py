"""Full-text search over message text, in SQLite FTS5 tables of the index.

The search data is built the first time someone searches (`ensure_search`), so a root where
nobody searches pays nothing: no tables, no triggers, no work in a refresh. Once it exists (the
`meta` key 'search' holds its version), triggers on `sessions` queue every session whose row a
refresh changes, and `ensure_search` before each search re-reads the queued sessions whose file
stat differs from what it indexed: the search data is never older than the listing, whoever
refreshed.

One FTS row per message: its text (a string content, or every string inside structured content),
its role and its timestamp; a message without text has its row too, for the `messages` view
that `query` reads (session_id, position, role, timestamp, chars: the length of that text).
The row id holds the session (`search_sessions.id`) in its high bits and the message's
position in the low 24: a session's rows are one id range, removed with one range delete, and
no id or position is stored a million times over.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

from indexer.index.transactions import write_transaction
from mofa.errors import MofaError
from mofa.reading import load_path
from mofa.searching import (  # noqa: F401 (the query language is shared by every store)
    MARK_END,
    MARK_START,
    And,
    Node,
    Not,
    Term,
    match_message,
    message_text,
    parse_query,
    plain_snippet,
    searchable_text,
    snippet_parts,
)
from mofa.session import Session

SEARCH_VERSION = "3"
TOKENIZER = "unicode61 remove_diacritics 2"
POSITION_BITS = 24  # messages after the 16,777,216th of one session are not searched
SEARCH_BATCH = 1024  # sessions per write transaction: a long build never blocks other writers long
Progress = Callable[[int, int], None]

_STAMP = ("path", "size", "mtime_ns", "inode", "ctime_ns")


class SearchFilter(NamedTuple):
    """What narrows a search: `since`/`until` are bounds in the index's text form (mofa.when),
    `since` inclusive and `until` exclusive, as for a listing (`SessionFilter`)."""

    agent: str | None = None
    role: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = 20


ANY = SearchFilter()  # the default: every session, the first 20 hits


class IndexHit(NamedTuple):
    """One matching session: `snippet` marks each match with MARK_START ... MARK_END. It is
    the session's text as stored: escape it (mofa.render.printable) before a terminal shows it."""

    session_id: str
    agent: str
    created_at: str
    matches: int
    snippet: str
    score: float
    message: int | None = None  # the first matching message's position, from 1


_LOW = (1 << POSITION_BITS) - 1


def match_expression(query: str | Node) -> str:
    """The user's query (text, or parse_query's tree) as an FTS5 MATCH expression in which
    every term is a quoted string: no text the user types is ever read as FTS5 syntax (NEAR,
    column filters, ...). Every group is in parentheses. FTS5's NOT is binary (`a NOT b`): a
    negation is taken away from the other operands of its AND, which parse_query guarantees
    has one that is not a negation (and a negation's operand holds a word to find)."""
    tree = parse_query(query) if isinstance(query, str) else query
    if isinstance(tree, Term):
        return '"' + tree.text.replace('"', '""') + '"' + ("*" if tree.prefix else "")
    if isinstance(tree, Not):  # parse_query never leaves one but inside an AND
        raise ValueError("a negation alone has no FTS5 expression")
    if isinstance(tree, And):
        kept = [operand for operand in tree.operands if not isinstance(operand, Not)]
        expression = " AND ".join(match_expression(operand) for operand in kept)
        expression = f"({expression})" if len(kept) > 1 else expression
        for operand in tree.operands:
            if isinstance(operand, Not):
                expression = f"({expression} NOT {match_expression(operand.operand)})"
        return expression
    return "(" + " OR ".join(match_expression(operand) for operand in tree.operands) + ")"


def _storable(text: str) -> str:
    """A role as SQLite can hold it (lone surrogates kept as escapes)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def message_rows(session: Session, session_key: int) -> list[tuple]:
    """(rowid, content, role, timestamp) of each message of `session`, stored under
    `session_key`."""
    base = session_key << POSITION_BITS
    rows = []
    for position, message in enumerate(session.messages[: 1 << POSITION_BITS]):
        if not isinstance(message, dict):
            continue
        text = searchable_text(message.get("content"))  # what snippets quote, on every store
        role = message.get("role")
        if not isinstance(role, str):
            role = "" if role is None else str(role)
        timestamp = message.get("timestamp")
        timestamp = _storable(timestamp) if isinstance(timestamp, str) else None
        rows.append((base + position, text, _storable(role), timestamp))
    return rows


# -- the tables --------------------------------------------------------------------------------


def search_exists(conn: sqlite3.Connection) -> bool:
    """True once someone searched this index: only then has a refresh anything to do here."""
    return [(SEARCH_VERSION,)] == conn.execute(
        "SELECT value FROM meta WHERE key = 'search'"
    ).fetchall()


# Every change to a row of `sessions` queues its id: a search then re-reads exactly what the
# refreshes (its own, another command's, the watcher's) changed since the last one. Created
# with the search data, so that an index nobody searches pays nothing in its refreshes.
_QUEUE = "INSERT OR IGNORE INTO search_pending (session_id) VALUES"
_TRIGGERS = {
    "search_queue_insert": f"AFTER INSERT ON sessions BEGIN {_QUEUE} (new.session_id); END",
    "search_queue_update": (
        f"AFTER UPDATE ON sessions BEGIN {_QUEUE} (old.session_id); {_QUEUE} (new.session_id); END"
    ),
    "search_queue_delete": f"AFTER DELETE ON sessions BEGIN {_QUEUE} (old.session_id); END",
}


# What `query` offers as `messages`, the same columns as on PostgreSQL: positions 1-based as
# `search` reports them, `chars` the length of the searchable text (mofa.searching.message_text).
_MESSAGES_VIEW = (
    "CREATE VIEW messages AS SELECT x.session_id AS session_id,"
    f" (m.rowid & {(1 << POSITION_BITS) - 1}) + 1 AS position,"
    " CASE WHEN m.role = '' THEN NULL ELSE m.role END AS role,"
    " m.timestamp AS timestamp, length(m.content) AS chars"
    " FROM search_sessions x JOIN search_messages m"
    f" ON m.rowid >= x.id << {POSITION_BITS} AND m.rowid < (x.id + 1) << {POSITION_BITS}"
)


def _create_search(conn: sqlite3.Connection, tokenizer: str) -> None:
    """The search tables, empty, with every session queued for reading (in the caller's
    transaction); data of another version is dropped first."""
    drop_search(conn)
    conn.execute(
        "CREATE TABLE search_sessions (id INTEGER PRIMARY KEY,"
        " session_id TEXT NOT NULL UNIQUE, path TEXT, size INTEGER, mtime_ns INTEGER,"
        " inode INTEGER, ctime_ns INTEGER)"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE search_messages USING fts5("
        f"content, role UNINDEXED, timestamp UNINDEXED, tokenize = '{tokenizer}')"
    )
    conn.execute(_MESSAGES_VIEW)
    conn.execute("CREATE TABLE search_pending (session_id TEXT PRIMARY KEY) WITHOUT ROWID")
    for name, body in _TRIGGERS.items():
        conn.execute(f"CREATE TRIGGER {name} {body}")
    conn.execute(f"{_QUEUE.replace('VALUES', '')} SELECT session_id FROM sessions")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search', ?)", (SEARCH_VERSION,))


def drop_search(conn: sqlite3.Connection) -> None:
    """Remove the search data (in the caller's transaction): the root pays nothing again."""
    conn.execute("DROP VIEW IF EXISTS messages")
    for name in _TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("search_messages", "search_sessions", "search_pending"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute("DELETE FROM meta WHERE key = 'search'")


def _forget(conn: sqlite3.Connection, session_id: str) -> None:
    for (key,) in conn.execute(
        "SELECT id FROM search_sessions WHERE session_id = ?", (session_id,)
    ).fetchall():
        low = key << POSITION_BITS
        conn.execute(
            "DELETE FROM search_messages WHERE rowid >= ? AND rowid < ?",
            (low, low + (1 << POSITION_BITS)),
        )
        conn.execute("DELETE FROM search_sessions WHERE id = ?", (key,))


def _add(conn: sqlite3.Connection, session: Session, stamp: tuple) -> None:
    key = conn.execute(
        "INSERT INTO search_sessions (session_id, path, size, mtime_ns, inode, ctime_ns)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (session.session_id, *stamp),
    ).lastrowid
    if key is None:  # never after an INSERT: SQLite gives the new row's id
        raise sqlite3.DatabaseError("search_sessions gave no id for the new row")
    conn.executemany(
        "INSERT INTO search_messages (rowid, content, role, timestamp) VALUES (?, ?, ?, ?)",
        message_rows(session, key),
    )


def _row_stamp(conn: sqlite3.Connection, session_id: str) -> tuple | None:
    row = conn.execute(
        f"SELECT {', '.join(_STAMP)} FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    return tuple(row) if row is not None else None


# -- keeping it current ------------------------------------------------------------------------


class _Pending(NamedTuple):
    """A queued session: its row as planned (None: gone) and whether its file must be read."""

    session_id: str
    directory: str | None
    file: str | None
    stamp: tuple | None
    read: bool


def _pending(conn: sqlite3.Connection) -> list[_Pending]:
    stamp = ", ".join(f"s.{column}" for column in _STAMP)
    indexed = ", ".join(f"x.{column}" for column in _STAMP)
    items = []
    width = len(_STAMP)
    for session_id, directory, file, present, *stamps in conn.execute(
        f"SELECT p.session_id, s.dir, s.file, s.session_id IS NOT NULL, {stamp}, {indexed}"
        " FROM search_pending p LEFT JOIN sessions s ON s.session_id = p.session_id"
        " LEFT JOIN search_sessions x ON x.session_id = p.session_id ORDER BY p.session_id"
    ):
        planned, held = tuple(stamps[:width]), tuple(stamps[width:])  # sessions' stamp, indexed one
        # Queued but as indexed already (a rebuild of the index rewrote the same rows): no read.
        items.append(
            _Pending(
                session_id,
                directory,
                file,
                planned if present else None,
                bool(present) and planned != held,
            )
        )
    return items


def _read(root: str, item: _Pending) -> Session | None:
    """The session a row names, read from its file; None when it is no longer that session."""
    from mofa import tree

    if item.directory is None or item.file is None or item.stamp is None:
        return None  # gone: no file to read
    stat = tree.FileStat(item.file, *item.stamp[1:])
    try:
        session = load_path(root, item.directory, stat, fast=True)
    except MofaError:  # changed or gone since the refresh: its next refresh queues it again
        return None
    return session if session.session_id == item.session_id else None


def ensure_search(
    conn: sqlite3.Connection,
    root: str,
    progress: Progress | None = None,
    tokenizer: str = TOKENIZER,
) -> int:
    """Create the search data if need be and bring it in line with the `sessions` rows: read
    the files of the sessions changed since the last search. Returns how many it read.
    Call it after a refresh, before `search`; when nothing changed it writes nothing."""
    if not search_exists(conn):
        with write_transaction(conn):
            if not search_exists(conn):  # another process may have created it meanwhile
                _create_search(conn, tokenizer)
    if conn.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return 0
    items = _pending(conn)
    total = sum(item.read for item in items)
    done = 0
    for start in range(0, len(items), SEARCH_BATCH):
        batch = items[start : start + SEARCH_BATCH]
        sessions = [_read(root, item) if item.read else None for item in batch]
        with write_transaction(conn):
            for item, session in zip(batch, sessions, strict=True):
                if _row_stamp(conn, item.session_id) != item.stamp:
                    continue  # changed again since planned: it stays queued for the next search
                if item.read or item.stamp is None:
                    _forget(conn, item.session_id)
                if session is not None and item.stamp is not None:  # read: it was present
                    _add(conn, session, item.stamp)
                conn.execute("DELETE FROM search_pending WHERE session_id = ?", (item.session_id,))
        done += sum(item.read for item in batch)
        if progress and total:
            progress(done, total)
    return total


# -- searching ---------------------------------------------------------------------------------


def search(conn: sqlite3.Connection, query: str, where: SearchFilter = ANY) -> list[IndexHit]:
    """The sessions with messages matching `query`, best first (most matching messages, then
    the newest, as every store orders them; `score` is their bm25 sum, for information), each
    with its number of matching messages, the position of the first and a snippet of it (by
    mofa.searching's rule, as every store makes it, not FTS5's snippet()).

    Raises InvalidSearchQuery for a query it cannot take. Without search data, no hits.
    """
    tree = parse_query(query)
    expression = match_expression(tree)
    if not search_exists(conn):
        return []
    inner = ["search_messages MATCH ?"]
    params: list = [expression]
    if where.role is not None:
        inner.append("role = ?")
        params.append(where.role)
    outer = []
    for condition, value in (
        ("s.agent = ?", where.agent),
        ("s.created_at >= ?", where.since),
        ("s.created_at < ?", where.until),
    ):
        if value is not None:
            outer.append(condition)
            params.append(value)
    limit = ""
    if where.limit is not None:
        limit = " LIMIT ?"
        params.append(where.limit)
    sql = (
        "SELECT x.session_id, s.agent, s.created_at, m.matches, m.first, m.score FROM ("
        f"SELECT rowid >> {POSITION_BITS} AS key, count(*) AS matches, min(rowid) AS first,"
        f" sum(rank) AS score FROM search_messages WHERE {' AND '.join(inner)}"
        f" GROUP BY rowid >> {POSITION_BITS}) m"
        " JOIN search_sessions x ON x.id = m.key JOIN sessions s ON s.session_id = x.session_id"
        + (" WHERE " + " AND ".join(outer) if outer else "")
        # Best first as on every store: most matching messages, then the newest.
        + " ORDER BY m.matches DESC, s.created_at DESC, x.session_id"
        + limit
    )
    hits = []
    for session_id, agent, created_at, matches, first, score in conn.execute(
        sql, params
    ).fetchall():
        text = conn.execute(
            "SELECT content FROM search_messages WHERE rowid = ?", (first,)
        ).fetchone()
        snippet = (match_message(text[0], tree) if text else None) or ""
        hits.append(
            IndexHit(session_id, agent, created_at, matches, snippet, score, (first & _LOW) + 1)
        )
    return hits


def search_size(conn: sqlite3.Connection) -> int:
    """Bytes the search data takes in the index (for the measurements)."""
    try:
        return (
            conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_%'").fetchone()[0]
            or 0
        )
    except sqlite3.OperationalError:  # no dbstat in this SQLite
        return -1
