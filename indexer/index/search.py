"""Full-text search over message text, in SQLite FTS5 tables of the index.

The search data is built the first time someone searches (`ensure_search`), so a root where
nobody searches pays nothing: no tables, no triggers, no work in a refresh. Once it exists (the
`meta` key 'search' holds its version), triggers on `sessions` queue every session whose row a
refresh changes, and `ensure_search` before each search re-reads the queued sessions whose file
stat differs from what it indexed: the search data is never older than the listing, whoever
refreshed.

The search data holds no copy of the sessions' text: `search_messages` is a contentless FTS5
table (`content=''`), the index of each message's searchable text and nothing else, so it
takes about 0.4 times the sessions' bytes where a copy took 1.7. Snippets are read from the
files of the hits (a page of results reads at most `limit` files), each checked against the
stat its search data was read at: a hit whose file changed or went since is never shown, its
file is refreshed and the search made again. `search_rows` holds what the `messages` view
that `query` reads needs (role, timestamp, chars: the length of the text), one compact row per
message.

An FTS5 row id is a block's id (`search_blocks`: up to 16 consecutive messages of one session)
shifted left by BLOCK_BITS, plus the message's place in the block: a search counts a session's
matching messages by a shift and a GROUP BY, and a session that grows gets its new messages in
its last block, then in new ones. A contentless table cannot delete a row without its text on
this SQLite (3.40; `contentless_delete` came in 3.43): a session whose messages changed
otherwise than by growing is retired (its key leaves `search_sessions` and its blocks
`search_blocks`, so that no search joins its FTS5 rows again) and indexed anew under a new
key; once the retired rows pass RETIRED_SHARE of the live ones, the search data is built again
from the files.
"""

from __future__ import annotations

import datetime
import functools
import re
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from indexer.index.transactions import write_transaction
from mofa.errors import MofaError
from mofa.reading import load_path, load_path_stat
from mofa.searching import (  # noqa: F401 (the query language is shared by every store)
    MARK_END,
    MARK_START,
    And,
    Node,
    Not,
    Term,
    fold,
    match_message,
    message_text,
    parse_query,
    plain_snippet,
    searchable_text,
    snippet_parts,
)
from mofa.session import Session

SEARCH_VERSION = "6"
TOKENIZER = "unicode61 remove_diacritics 2"
MAX_MESSAGES = 1 << 24  # messages after the 16,777,216th of one session are not searched
# An FTS5 row id is a block's id (search_blocks: up to 16 messages of one session) shifted left
# by BLOCK_BITS, plus the message's place in the block: a session's messages are counted by
# a shift, and close ids keep FTS5's row id deltas short. On 10,000 realistic sessions the
# FTS5 data takes 28.5 MB so, against 29.9 MB with 64 messages a block and 38.8 MB with the
# session's key shifted by 24 bits.
BLOCK_BITS = 4
SEARCH_BATCH = 1024  # sessions per write transaction: a long build never blocks other writers long
# Retired rows (a rewritten or deleted session's, which a contentless table cannot delete
# without their text) are rebuilt away once they pass this share of the live rows and
# RETIRED_MIN: the search data stays within 1.25 times its size after a build, and a small
# index is not read again for every few rewrites.
RETIRED_SHARE = 0.25
RETIRED_MIN = 10_000
STALE_TRIES = 3  # searches again after bringing changed hits up to date, then leaves them out
Progress = Callable[[int, int], None]

_STAMP = ("size", "mtime_ns", "inode", "ctime_ns")


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
    the session's text as its file holds it now: escape it (mofa.render.printable) before a
    terminal shows it."""

    session_id: str
    agent: str
    created_at: str
    matches: int
    snippet: str
    message: int | None = None  # the first matching message's position, from 1


class SearchPage(NamedTuple):
    """A search's hits, and the files of hits left out because they changed or went since
    they were indexed: (directory, file) pairs for a refresh to bring up to date."""

    hits: list[IndexHit]
    stale: list[tuple[str, str]]


_LOW = (1 << BLOCK_BITS) - 1


def indexed_text(text: str) -> str:
    """What FTS5 is given of a text (a message's, or a query term's): folded as the plain matcher
    folds it (mofa.searching.fold: compatibility forms decomposed, accents dropped, full case
    folding), so that `ﬁne` and `fine`, or `ǅ` and `dž`, match alike on every store; FTS5's
    unicode61 knows neither. ASCII text is given as it is: folding it only lowers its case, as
    unicode61 does."""
    return text if text.isascii() else fold(text)


def match_expression(query: str | Node) -> str:
    """The user's query (text, or parse_query's tree) as an FTS5 MATCH expression in which
    every term is a quoted string: no text the user types is ever read as FTS5 syntax (NEAR,
    column filters, ...). Every group is in parentheses. FTS5's NOT is binary (`a NOT b`): a
    negation is taken away from the other operands of its AND, which parse_query guarantees
    has one that is not a negation (and a negation's operand holds a word to find)."""
    tree = parse_query(query) if isinstance(query, str) else query
    if isinstance(tree, Term):
        return '"' + indexed_text(tree.text).replace('"', '""') + '"' + ("*" if tree.prefix else "")
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


class MessageRow(NamedTuple):
    """What the search data holds of one message: its searchable text (only its FTS5 index is
    kept), its role and its timestamp."""

    position: int  # from 0
    text: str
    role: str | None  # None: no role, or one that is no string (as PostgreSQL keeps it)
    timestamp: str | None


def message_rows(session: Session) -> list[MessageRow | None]:
    """The row of each message of `session`, in order (None: not a message object)."""
    rows: list[MessageRow | None] = []
    for position, message in enumerate(session.messages[:MAX_MESSAGES]):
        if not isinstance(message, dict):
            rows.append(None)
            continue
        text = searchable_text(message.get("content"))  # what snippets quote, on every store
        role = message.get("role")
        role = _storable(role) if isinstance(role, str) else None
        timestamp = message.get("timestamp")
        timestamp = _storable(timestamp) if isinstance(timestamp, str) else None
        rows.append(MessageRow(position, text, role, timestamp))
    return rows


def _digest_update(digest, rows: list[MessageRow | None]) -> None:
    """Feed rows to a session's digest: equal digests, equal rows (a session that only grew
    keeps the digest of its first messages). Each row is its parts' lengths and bytes."""
    parts = []
    for row in rows:
        if row is None:
            parts.append(b"\x00")
            continue
        for part in row[1:]:  # text, role, timestamp
            encoded = b"\x01" if part is None else part.encode("utf-8", "surrogatepass")
            parts.append(len(encoded).to_bytes(8, "little"))
            parts.append(encoded)
    digest.update(b"".join(parts))


def _new_digest():
    import hashlib

    return hashlib.blake2b(digest_size=8)


# A timestamp of the usual forms (`2024-02-28T10:30:05Z`, `...05.123+00:00`, ...: years 1970 to
# 9999, no fraction or 3, 6 or 9 digits, `Z` or `+00:00`) is kept as one integer: its count of
# seconds (or milli-, micro-, nanoseconds) since `base`, the first such time of its block of
# messages, times 8, plus its form. The `messages` view writes its text back (the very
# characters of the file) with SQLite's own functions: 3 or 4 bytes instead of 20 to 32
# characters, about 6 MB less on 10,000 realistic sessions.
_FORMS = [(digits, zone) for zone in ("Z", "+00:00") for digits in (0, 3, 6)] + [(9, "Z")]
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{3}|\d{6}|\d{9}))?(Z|\+00:00)",
    re.ASCII,
)


def _parsed(text: str | None) -> tuple[int, str, str] | None:
    """(seconds since 1970, fraction digits, zone) of a timestamp of the usual forms."""
    found = _TIMESTAMP.fullmatch(text) if text is not None else None
    if found is None:
        return None
    year, month, day, hour, minute, second = map(int, found.group(1, 2, 3, 4, 5, 6))
    if year < 1970:
        return None
    try:  # no such time (a 30th of February, a 61st second): kept as written
        moment = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return (moment - _EPOCH) // _SECOND, found.group(7) or "", found.group(8)


_EPOCH, _SECOND = datetime.datetime(1970, 1, 1), datetime.timedelta(seconds=1)


def timestamp_base(text: str | None) -> int | None:
    """The seconds since 1970 of a timestamp timestamp_value can keep as an integer."""
    parsed = _parsed(text)
    return parsed[0] if parsed is not None else None


def timestamp_value(text: str | None, base: int = 0) -> int | str | None:
    """What search_rows keeps of a message's timestamp: an integer when the text can be
    written back from it and `base` (timestamp_sql), else the text itself."""
    parsed = _parsed(text)
    if parsed is None or (len(parsed[1]), parsed[2]) not in _FORMS:
        return text
    seconds, fraction, zone = parsed
    scale = 10 ** len(fraction)
    units = seconds * scale + int(fraction or 0)
    value = (units - base * scale) * 8 + _FORMS.index((len(fraction), zone))
    if units >= 2**63 or base * scale >= 2**63 or not -(2**62) <= value < 2**62:
        return text  # past what SQLite's 64-bit integers hold (nanoseconds after 2262)
    return value


def timestamp_sql(column: str, base: str) -> str:
    """The SQL expression that gives back the text of a timestamp kept by timestamp_value
    in `column`, with its `base`."""
    cases = []
    for form, (digits, zone) in enumerate(_FORMS):
        scale = 10**digits
        units = f"({base} * {scale} + ({column} - {form}) / 8)"
        text = f"strftime('%Y-%m-%dT%H:%M:%S', {units} / {scale}, 'unixepoch')"
        if digits:
            text += f" || printf('.%0{digits}d', {units} % {scale})"
        cases.append(f"WHEN {form} THEN {text} || '{zone}'")
    return (
        f"CASE WHEN typeof({column}) <> 'integer' THEN {column}"
        f" ELSE CASE {column} & 7 {' '.join(cases)} END END"
    )


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
    f" b.first + (r.id & {_LOW}) + 1 AS position,"
    " g.role AS role,"
    f" {timestamp_sql('r.timestamp', 'b.base')} AS timestamp, r.chars AS chars"
    " FROM search_sessions x JOIN search_blocks b ON b.session = x.id JOIN search_rows r"
    f" ON r.id >= b.id << {BLOCK_BITS} AND r.id < (b.id + 1) << {BLOCK_BITS}"
    " LEFT JOIN search_roles g ON g.id = r.role"
)

_RETIRED, _LIVE = "search_retired", "search_live"  # `meta` keys: FTS5 rows of each kind


def _create_search(conn: sqlite3.Connection, tokenizer: str) -> None:
    """The search tables, empty, with every session queued for reading (in the caller's
    transaction); data of another version is dropped first."""
    drop_search(conn)
    # AUTOINCREMENT: a key is never given again, so no session inherits retired FTS5 rows.
    conn.execute(
        "CREATE TABLE search_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " session_id TEXT NOT NULL UNIQUE, size INTEGER,"
        " mtime_ns INTEGER, inode INTEGER, ctime_ns INTEGER, messages INTEGER NOT NULL,"
        " digest BLOB NOT NULL)"
    )
    # Only the index of each message's text (content=''): the text stays in the session files,
    # where snippets are read. columnsize=0: bm25 is not used, no lengths are kept.
    conn.execute(
        "CREATE VIRTUAL TABLE search_messages USING fts5(content, content='', columnsize=0,"
        f" tokenize = '{tokenizer}')"
    )
    conn.execute(
        "CREATE TABLE search_blocks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " session INTEGER NOT NULL, first INTEGER NOT NULL, base INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX search_blocks_session ON search_blocks (session, first)")
    # A timestamp is an integer when its text can be written back from one (timestamp_value).
    conn.execute(
        "CREATE TABLE search_rows (id INTEGER PRIMARY KEY, role INTEGER, timestamp,"
        " chars INTEGER NOT NULL)"
    )
    conn.execute("CREATE TABLE search_roles (id INTEGER PRIMARY KEY, role TEXT NOT NULL UNIQUE)")
    conn.execute(_MESSAGES_VIEW)
    conn.execute("CREATE TABLE search_pending (session_id TEXT PRIMARY KEY) WITHOUT ROWID")
    for name, body in _TRIGGERS.items():
        conn.execute(f"CREATE TRIGGER {name} {body}")
    conn.execute(f"{_QUEUE.replace('VALUES', '')} SELECT session_id FROM sessions")
    for key in (_RETIRED, _LIVE):
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')", (key,))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search', ?)", (SEARCH_VERSION,))


def drop_search(conn: sqlite3.Connection) -> None:
    """Remove the search data (in the caller's transaction): the root pays nothing again."""
    conn.execute("DROP VIEW IF EXISTS messages")
    for name in _TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in (
        "search_messages",
        "search_sessions",
        "search_blocks",
        "search_rows",
        "search_roles",
        "search_pending",
    ):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute("DELETE FROM meta WHERE key IN ('search', ?, ?)", (_RETIRED, _LIVE))


def _count(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _bump(conn: sqlite3.Connection, key: str, by: int) -> None:
    if by:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?", (by, key))


def search_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """(live, retired) FTS5 rows of the search data."""
    return _count(conn, _LIVE), _count(conn, _RETIRED)


def _spans(conn: sqlite3.Connection, key: int) -> list[tuple[int, int]]:
    """The row id ranges of a session's blocks."""
    return [
        (block << BLOCK_BITS, (block + 1) << BLOCK_BITS)
        for (block,) in conn.execute("SELECT id FROM search_blocks WHERE session = ?", (key,))
    ]


def _retire(conn: sqlite3.Connection, session_id: str) -> None:
    """Take a session out of the search data: its blocks leave search_blocks, so no search
    joins its FTS5 rows again (they stay, counted as retired, until a rebuild)."""
    for (key,) in conn.execute(
        "SELECT id FROM search_sessions WHERE session_id = ?", (session_id,)
    ).fetchall():
        indexed = 0
        for span in _spans(conn, key):
            indexed += conn.execute(
                "SELECT count(*) FROM search_rows WHERE id >= ? AND id < ? AND chars > 0", span
            ).fetchone()[0]
            conn.execute("DELETE FROM search_rows WHERE id >= ? AND id < ?", span)
        conn.execute("DELETE FROM search_blocks WHERE session = ?", (key,))
        conn.execute("DELETE FROM search_sessions WHERE id = ?", (key,))
        _bump(conn, _LIVE, -indexed)
        _bump(conn, _RETIRED, indexed)


def _role_ids(
    conn: sqlite3.Connection, roles: set[str | None], known: dict[str | None, int | None]
) -> dict[str | None, int | None]:
    """`known` (ids of roles, kept by the caller for its transaction) with those of `roles`
    added, each role looked up or inserted once."""
    known.setdefault(None, None)  # no role: no id, never a --role's match
    wanted = tuple(roles - known.keys())
    if wanted:
        known |= dict(
            conn.execute(
                f"SELECT role, id FROM search_roles WHERE role IN ({', '.join('?' * len(wanted))})",
                wanted,
            ).fetchall()
        )
        for role in set(wanted) - known.keys():
            known[role] = conn.execute(
                "INSERT INTO search_roles (role) VALUES (?)", (role,)
            ).lastrowid
    return known


class _Layout(NamedTuple):
    """Where a session's next messages go (_laid_out): the new blocks' (first position, base),
    and each message's (block: -1 for the session's last one, else the number of a new one;
    place in it; role; timestamp as kept; chars; text for FTS5, None for none)."""

    blocks: list[tuple[int, int]]
    rows: list[tuple[int, int, str | None, int | str | None, int, str | None]]


def _laid_out(rows: list, last: tuple[int, int] | None) -> _Layout:
    """Lay out rows (MessageRow or plain tuples of them) in the session's last block, whose
    first position and base are `last` (None: it has none), while they fit, then in new ones."""
    present = [row for row in rows if row is not None]
    blocks: list[tuple[int, int]] = []
    laid = []
    number, (first, base) = (-1, last) if last is not None else (None, (0, 0))
    for index, (position, text, role, timestamp) in enumerate(present):
        if number is None or position - first > _LOW:
            first = position
            # The first time of the messages the block will hold: theirs are kept from it.
            times = (
                timestamp_base(later[3]) for later in present[index:] if later[0] - first <= _LOW
            )
            base = next((seconds for seconds in times if seconds is not None), 0)
            blocks.append((first, base))
            number = len(blocks) - 1
        indexed = indexed_text(text) if text else None
        laid.append(
            (number, position - first, role, timestamp_value(timestamp, base), len(text), indexed)
        )
    return _Layout(blocks, laid)


def _insert(
    conn: sqlite3.Connection,
    key: int,
    rows: list,
    roles: dict[str | None, int | None],
    fresh: _Layout | None = None,
) -> None:
    """Add rows (the session's next messages) to the session `key`, in its last block while
    they fit, then in new ones. `roles`: the role ids known in this transaction (see
    _role_ids); `fresh`: the rows' layout, for a key just made (it has no block yet)."""
    last = None
    if fresh is None:
        last = conn.execute(
            "SELECT id, first, base FROM search_blocks WHERE session = ?"
            " ORDER BY first DESC LIMIT 1",
            (key,),
        ).fetchone()
    layout = fresh if fresh is not None else _laid_out(rows, last and last[1:])
    if not layout.rows:
        return
    roles = _role_ids(conn, {row[2] for row in layout.rows}, roles)
    # Block -1 is the session's last (only ever named when it has one), then the new ones.
    ids: list[int] = [last[0] if last is not None else -1]
    for first, base in layout.blocks:
        block = conn.execute(
            "INSERT INTO search_blocks (session, first, base) VALUES (?, ?, ?)",
            (key, first, base),
        ).lastrowid
        if block is None:  # never after an INSERT: SQLite gives the new row's id
            raise sqlite3.DatabaseError("search_blocks gave no id for the new row")
        ids.append(block)
    numbered, texts = [], []
    for number, place, role, timestamp, chars, indexed in layout.rows:
        rowid = (ids[number + 1] << BLOCK_BITS) + place
        numbered.append((rowid, roles[role], timestamp, chars))
        if indexed is not None:
            texts.append((rowid, indexed))
    conn.executemany(
        "INSERT INTO search_rows (id, role, timestamp, chars) VALUES (?, ?, ?, ?)", numbered
    )
    conn.executemany("INSERT INTO search_messages (rowid, content) VALUES (?, ?)", texts)
    _bump(conn, _LIVE, len(texts))


def _index(
    conn: sqlite3.Connection,
    session_id: str,
    read: _Read,
    held: tuple[int, int, bytes] | None,
    roles: dict[str | None, int | None],
) -> None:
    """Bring the search data of a session (`read` from its file; `held`: its key, message count
    and digest as indexed, None when it is not) in line with it: only its new messages when it
    only grew since it was indexed, else all of them under a new key."""
    rows, stamp = read.rows, read.stamp
    if held is not None:
        key, count, known = held
        if count <= len(rows):
            digest = _new_digest()
            _digest_update(digest, rows[:count])
            if digest.digest() == known:  # the same messages, maybe more after them
                _insert(conn, key, rows[count:], roles)
                conn.execute(
                    "UPDATE search_sessions SET size = ?, mtime_ns = ?,"
                    " inode = ?, ctime_ns = ?, messages = ?, digest = ? WHERE id = ?",
                    (*stamp, len(rows), read.digest, key),
                )
                return
        _retire(conn, session_id)
    new_key = conn.execute(
        "INSERT INTO search_sessions (session_id, size, mtime_ns, inode, ctime_ns,"
        " messages, digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, *stamp, len(rows), read.digest),
    ).lastrowid
    if new_key is None:  # never after an INSERT: SQLite gives the new row's id
        raise sqlite3.DatabaseError("search_sessions gave no id for the new row")
    _insert(conn, new_key, rows, roles, read.fresh or _laid_out(rows, None))


def _by_id(conn: sqlite3.Connection, sql: str, ids: list[str]) -> dict[str, tuple]:
    """{id: the rest of its row} of `sql` (its first column the id, `IN ({})` to fill) for
    `ids`, asked a few hundred at a time (older SQLite takes 999 parameters at most)."""
    found = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for first, *rest in conn.execute(sql.format(", ".join("?" * len(chunk))), chunk):
            found[first] = tuple(rest)
    return found


# -- keeping it current ------------------------------------------------------------------------


class _Pending(NamedTuple):
    """A queued session: its row as planned (None: gone) and whether its file must be read."""

    session_id: str
    directory: str | None
    file: str | None
    stamp: tuple | None
    read: bool


def _pending(conn: sqlite3.Connection, after: str | None, limit: int) -> list[_Pending]:
    """The next `limit` queued sessions in id order, after the id `after` (None: from the
    first): a catch-up holds a batch of them at a time, never the whole queue (a million
    sessions queued would take half a gigabyte)."""
    stamp = ", ".join(f"s.{column}" for column in _STAMP)
    indexed = ", ".join(f"x.{column}" for column in _STAMP)
    items = []
    width = len(_STAMP)
    for session_id, directory, file, present, *stamps in conn.execute(
        f"SELECT p.session_id, s.dir, s.file, s.session_id IS NOT NULL, {stamp}, {indexed}"
        " FROM search_pending p LEFT JOIN sessions s ON s.session_id = p.session_id"
        " LEFT JOIN search_sessions x ON x.session_id = p.session_id"
        " WHERE p.session_id > ? ORDER BY p.session_id LIMIT ?",
        ("" if after is None else after, limit),
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


def _to_read(conn: sqlite3.Connection) -> int:
    """How many queued sessions have a file to read (`_Pending.read`), counted in SQL."""
    same = " AND ".join(f"s.{column} IS x.{column}" for column in _STAMP)
    return conn.execute(
        "SELECT count(*) FROM search_pending p JOIN sessions s ON s.session_id = p.session_id"
        f" LEFT JOIN search_sessions x ON x.session_id = p.session_id WHERE NOT ({same})"
    ).fetchone()[0]


class _Read(NamedTuple):
    """A queued session as read from its file: its rows (MessageRow, or the plain tuple of
    one as a parsing process sends them back), their digest, and the file's stamp as read."""

    rows: list
    digest: bytes
    stamp: tuple
    fresh: _Layout | None  # the rows' layout in a session with no block yet, if made ahead


def _read(root: str, item: _Pending) -> _Read | None:
    """The session a row names, read from its file, and the stamp of the file as read (its
    row's may hold a ctime that never matches: a file too recent to trust); None when it is no
    longer that session."""
    from mofa import tree

    if item.directory is None or item.file is None or item.stamp is None:
        return None  # gone: no file to read
    stat = tree.FileStat(item.file, *item.stamp)
    try:
        session, st = load_path_stat(root, item.directory, stat, fast=True)
    except MofaError:  # changed or gone since the refresh: its next refresh queues it again
        return None
    if session.session_id != item.session_id:
        return None
    rows = message_rows(session)
    digest = _new_digest()
    _digest_update(digest, rows)
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    return _Read(rows, digest.digest(), stamp, None)


def _read_here(root: str, items: list[_Pending]) -> list[_Read | None]:
    """_read of each item that has a file to read, in this process."""
    return [_read(root, item) if item.read else None for item in items]


def read_queued(root: str, items: list[_Pending]) -> list[_Read | None]:
    """_read of each item as a reading process sends it back: its rows as plain tuples (a tuple
    crosses the pipe ten times faster than a NamedTuple), and laid out ahead for a session
    with no block yet (a first build's every session), which the writer then need not do."""
    return [
        read
        and read._replace(
            rows=[row and tuple(row) for row in read.rows], fresh=_laid_out(read.rows, None)
        )
        for read in _read_here(root, items)
    ]


class Readers(Protocol):
    """Processes that read queued sessions in parallel (indexer.build.refresh.FileParser):
    `submit` hands them `parse(batch)` (None: not taken), `collect` gives back its result,
    made here when they could not."""

    def submit(self, parse: Callable, batch: list) -> Any: ...

    def collect(self, future: Any, batch: list, parse: Callable) -> list: ...


READ_TASK = 128  # queued sessions per task handed to the readers
PARALLEL_READS = 1_000  # fewer sessions to read are read here, without starting the readers


def _reads(
    root: str, batch: list[_Pending], readers: Readers | None
) -> Callable[[], dict[str, _Read | None]]:
    """Start reading a batch's files (in the readers when there are any); the returned call
    waits for them and gives each session's _Read by id."""
    parse = functools.partial(read_queued if readers else _read_here, root)
    tasks = [batch[start : start + READ_TASK] for start in range(0, len(batch), READ_TASK)]
    futures = [readers.submit(parse, task) if readers else None for task in tasks]

    def results() -> dict[str, _Read | None]:
        found: dict[str, _Read | None] = {}
        for task, future in zip(tasks, futures, strict=True):
            made = readers.collect(future, task, parse) if readers else parse(task)
            found.update(zip((item.session_id for item in task), made, strict=True))
        return found

    return results


def _catch_up(
    conn: sqlite3.Connection, root: str, progress: Progress | None, readers: Readers | None
) -> int:
    total = _to_read(conn)
    done = 0
    if total < PARALLEL_READS:
        readers = None  # not worth starting processes for
    batch = _pending(conn, None, SEARCH_BATCH)
    reading = _reads(root, batch, readers)
    while batch:
        # The next batch is read while this one is written.
        following = _pending(conn, batch[-1].session_id, SEARCH_BATCH)
        read_next = _reads(root, following, readers)
        reads, done_with = reading(), []
        with write_transaction(conn):
            ids = [item.session_id for item in batch]
            stamps = _by_id(
                conn,
                f"SELECT session_id, {', '.join(_STAMP)} FROM sessions WHERE session_id IN ({{}})",
                ids,
            )
            held = _by_id(
                conn,
                "SELECT session_id, id, messages, digest FROM search_sessions"
                " WHERE session_id IN ({})",
                ids,
            )
            roles: dict[str | None, int | None] = {}
            for item in batch:
                if stamps.get(item.session_id) != item.stamp:
                    continue  # changed again since planned: it stays queued for the next search
                read = reads.get(item.session_id)
                if read is not None and item.stamp is not None:  # read: it was present
                    _index(conn, item.session_id, read, held.get(item.session_id), roles)
                elif item.read or item.stamp is None:
                    _retire(conn, item.session_id)
                done_with.append((item.session_id,))
            conn.executemany("DELETE FROM search_pending WHERE session_id = ?", done_with)
        done += sum(item.read for item in batch)
        total = max(total, done)  # sessions queued meanwhile are read in this pass too
        if progress and total:
            progress(done, total)
        batch, reading = following, read_next
    return done


def _start_over(conn: sqlite3.Connection) -> None:
    """Empty the search data, retired rows included, and queue every session to be read
    again (in the caller's transaction)."""
    conn.execute("INSERT INTO search_messages (search_messages) VALUES ('delete-all')")
    for table in ("search_rows", "search_blocks", "search_sessions", "search_pending"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute(f"{_QUEUE.replace('VALUES', '')} SELECT session_id FROM sessions")
    for key in (_RETIRED, _LIVE):
        conn.execute("UPDATE meta SET value = '0' WHERE key = ?", (key,))


def ensure_search(
    conn: sqlite3.Connection,
    root: str,
    progress: Progress | None = None,
    tokenizer: str = TOKENIZER,
    readers: Readers | None = None,
) -> int:
    """Create the search data if need be and bring it in line with the `sessions` rows: read
    the files of the sessions changed since the last search. Returns how many it read.
    Call it after a refresh, before `search`; when nothing changed it writes nothing.

    When the retired rows pass RETIRED_SHARE of the live ones (and RETIRED_MIN), the search
    data is built again from the files (its progress reported as a first build's). `readers`
    read the files (and make their rows) in parallel while this process writes."""
    if not search_exists(conn):
        with write_transaction(conn):
            if not search_exists(conn):  # another process may have created it meanwhile
                _create_search(conn, tokenizer)
    if conn.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return 0
    read = _catch_up(conn, root, progress, readers)
    if _worn(conn):
        with write_transaction(conn):
            worn = _worn(conn)  # not rebuilt by another process meanwhile
            if worn:
                _start_over(conn)
        if worn:
            read += _catch_up(conn, root, progress, readers)
    return read


def _worn(conn: sqlite3.Connection) -> bool:
    """Whether the retired rows are many enough for the search data to be built again."""
    live, retired = search_counts(conn)
    return retired > max(RETIRED_SHARE * live, RETIRED_MIN)


# -- searching ---------------------------------------------------------------------------------


def _matching(
    conn: sqlite3.Connection, expression: str, where: SearchFilter
) -> list[tuple[str, str, str, int, int, str, str, tuple]]:
    """(session_id, agent, created_at, matches, first position, dir, file, indexed stamp) of each
    matching session, in the order of every store."""
    params: list = [expression]
    if where.role is not None:
        # Only the messages of that role: their row ids, then FTS5's within them.
        source = (
            "SELECT m.rowid AS id FROM search_messages m JOIN search_rows r ON r.id = m.rowid"
            " JOIN search_roles g ON g.id = r.role WHERE search_messages MATCH ? AND g.role = ?"
        )
        params.append(where.role)
    else:
        source = "SELECT rowid AS id FROM search_messages WHERE search_messages MATCH ?"
    outer = []
    for condition, value in (
        ("s.agent = ?", where.agent),
        ("s.created_at >= ?", where.since),
        ("s.created_at < ?", where.until),
    ):
        if value is not None:
            outer.append(condition)
            params.append(value)
    rows = _ranked(conn, source, outer, params, where.limit, cut=not outer)
    if not outer and where.limit is not None and len(rows) < where.limit:
        # Fewer than the cut promised: some counted session has no row in `sessions` (it
        # went since the search data was read), so the cut may have left out a true hit.
        rows = _ranked(conn, source, outer, params, where.limit, cut=False)
    return rows


def _ranked(
    conn: sqlite3.Connection,
    source: str,
    outer: list[str],
    params: list,
    limit: int | None,
    cut: bool,
) -> list[tuple[str, str, str, int, int, str, str, tuple]]:
    """The sessions of `source`'s matching row ids that pass `outer`, best first. With `cut`,
    only sessions with at least as many matches as the limit-th best are joined to `sessions`
    (with a common word, a few thousand rather than most of them)."""
    conditions, values = list(outer), list(params)
    tail = ""
    if limit is not None:
        if cut:
            conditions.append(
                "g.matches >= coalesce((SELECT matches FROM g ORDER BY matches DESC"
                " LIMIT 1 OFFSET ?), 0)"
            )
            values.append(max(limit - 1, 0))
        tail = " LIMIT ?"
        values.append(limit)
    stamp = ", ".join(f"x.{column}" for column in _STAMP)
    sql = (
        # Matching messages counted by session (their block's), in one GROUP BY; `sessions`
        # joined last, once per session rather than once per message.
        "WITH g AS (SELECT b.session AS key, count(*) AS matches,"
        f" min(b.first + (m.id & {_LOW})) AS first"
        f" FROM ({source}) m JOIN search_blocks b ON b.id = m.id >> {BLOCK_BITS}"
        " GROUP BY b.session)"
        f" SELECT x.session_id, s.agent, s.created_at, g.matches, g.first, s.dir, s.file, {stamp}"
        " FROM g JOIN search_sessions x ON x.id = g.key"
        " JOIN sessions s ON s.session_id = x.session_id"
        + (" WHERE " + " AND ".join(conditions) if conditions else "")
        # Best first as on every store: most matching messages, then the newest, then the id.
        + " ORDER BY g.matches DESC, s.created_at DESC, x.session_id"
        + tail
    )
    return [
        (session_id, agent, created, matches, first, directory, file, tuple(stamps))
        for session_id, agent, created, matches, first, directory, file, *stamps in conn.execute(
            sql, values
        )
    ]


def _root(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
    return row[0] if row else None


def search_page(
    conn: sqlite3.Connection, query: str, where: SearchFilter = ANY, root: str | None = None
) -> SearchPage:
    """The sessions with messages matching `query`, best first (most matching messages, then
    the newest, then the id, as every store orders them), each with its number of matching
    messages, the position of the first and a snippet of it (by mofa.searching's rule, as
    every store makes it), read from the hit's file: at most `limit` files. A hit whose file
    is gone or no longer the one indexed is left out, and named in `stale`.

    Raises InvalidSearchQuery for a query it cannot take. Without search data, no hits.
    """
    from mofa import tree as files

    parsed = parse_query(query)
    expression = match_expression(parsed)
    if not search_exists(conn):
        return SearchPage([], [])
    root = root if root is not None else _root(conn)
    hits, stale = [], []
    for session_id, agent, created_at, matches, first, directory, file, stamp in _matching(
        conn, expression, where
    ):
        try:
            if root is None:
                raise MofaError("no sessions root recorded")
            session = load_path(
                root, directory, files.FileStat(file, *stamp), fast=True, unchanged=True
            )
        except MofaError:
            stale.append((directory, file))
            continue
        position = first
        message = session.messages[position] if position < len(session.messages) else None
        text = searchable_text(message.get("content")) if isinstance(message, dict) else ""
        snippet = match_message(text, parsed) or ""
        hits.append(IndexHit(session_id, agent, created_at, matches, snippet, position + 1))
    return SearchPage(hits, stale)


def search(
    conn: sqlite3.Connection, query: str, where: SearchFilter = ANY, root: str | None = None
) -> list[IndexHit]:
    """search_page's hits."""
    return search_page(conn, query, where, root).hits


def search_size(conn: sqlite3.Connection) -> int:
    """Bytes the search data takes in the index (for the measurements)."""
    try:
        return (
            conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_%'").fetchone()[0]
            or 0
        )
    except sqlite3.OperationalError:  # no dbstat in this SQLite
        return -1
