"""The PostgreSQL store: sessions in a database, one row per session and one per message.

Concurrency is the database's: a save is one transaction (insert, or refuse, or replace, with
its messages), an append locks its session's row so that concurrent appenders queue and each
takes the next position, and readers never wait on writers (MVCC). Every driver failure
becomes a named error whose message never shows a password.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

from mofa.errors import (
    AmbiguousSessionId,
    CorruptSession,
    InvalidSessionId,
    QueryError,
    SessionExists,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
)
from mofa.session import JSON_LAYOUT, Session
from mofa.stores.base import (
    Problem,
    QueryResult,
    SearchHit,
    SessionFilter,
    SessionRef,
    SessionRow,
    SessionStore,
    VerifyReport,
    Warn,
)
from mofa.stores.postgres import records
from mofa.stores.postgres.connect import connect, one_line
from mofa.stores.postgres.records import MessageRecord, SessionRecord
from mofa.stores.postgres.schema import migrate
from mofa.stores.urls import masked

_ROW_COLUMNS = ", ".join(SessionRow._fields)
_RECORD_COLUMNS = ", ".join(SessionRecord._fields)
_RECORD_VALUES = ", ".join("%s::jsonb" if field == "metadata" else "%s::text[]" if field == "tags"
                           else "%s" for field in SessionRecord._fields)
_RECORD_UPDATES = ", ".join(f"{field} = EXCLUDED.{field}" for field in SessionRecord._fields[1:])
_MESSAGE_COLUMNS = ", ".join(MessageRecord._fields)
# Binary arrays (%b): text arrays are escaped element by element in Python, five times slower.
_MESSAGE_ARRAYS = ", ".join("%b::integer[]" if field == "position" else "%b::text[]"
                            for field in MessageRecord._fields[1:])
_INSERT_NEW = (
    f"WITH saved AS (INSERT INTO mofa_sessions ({_RECORD_COLUMNS}) VALUES ({_RECORD_VALUES})"
    "  ON CONFLICT (session_id) DO NOTHING RETURNING session_id),"
    f" added AS (INSERT INTO mofa_messages ({_MESSAGE_COLUMNS})"
    f"  SELECT saved.session_id, given.* FROM saved, unnest({_MESSAGE_ARRAYS}) AS given)"
    " SELECT count(*) FROM saved")

# The first word of a statement that can run as a read-only query (anything else is refused
# by the server; this only words the refusal).
_QUERY_WORDS = ("select", "with", "values", "table", "(")


class PostgresHandle(NamedTuple):
    """How this store finds a session again: its id (the primary key)."""

    session_id: str


class PostgresSessionStore(SessionStore):
    """Sessions in the PostgreSQL database at `url`; the schema is created or migrated first."""

    kind = "postgresql"

    def __init__(self, url: str, warn: Warn | None = None, notice: Warn | None = None,
                 progress=None):
        self.url = url
        self.where = masked(url)
        self.warn = warn
        self.notice = notice
        self.conn = connect(url)
        try:
            with self._errors():
                self.schema_version = migrate(self.conn, self.where, notice)
        except BaseException:
            self.conn.close()
            raise

    @contextlib.contextmanager
    def _errors(self):
        """The driver's failures as the library's: an unreachable or broken server is
        StoreUnavailable, anything else the server refused is StoreError."""
        psycopg = sys.modules["psycopg"]
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise StoreUnavailable(f"the PostgreSQL store at {self.where} failed: "
                                   f"{one_line(error)}") from None
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL error at {self.where}: {one_line(error)}") from None

    # -- reading ---------------------------------------------------------------------------
    def list(self, wanted: SessionFilter = SessionFilter()) -> list[SessionRow]:
        if wanted.limit is not None and wanted.limit <= 0:
            return []
        conditions, params = [], []
        for column, operator, value in (("agent", "=", wanted.agent),
                                        ("created_at", ">=", wanted.since),
                                        ("created_at", "<", wanted.until),
                                        ("user_id", "=", wanted.user)):
            if value is not None:
                if not records.storable(value):
                    return []  # no stored value holds a NUL or a lone surrogate
                conditions.append(f"{column} {operator} %s")
                params.append(value)
        if wanted.statuses:
            conditions.append("status = ANY(%s::text[])")
            params.append([records.cleaned(status) for status in wanted.statuses])
        if wanted.tags:
            conditions.append("tags @> %s::text[]")
            params.append([records.cleaned(tag) for tag in wanted.tags])
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {_ROW_COLUMNS} FROM mofa_sessions{where}"
        with self._errors():
            if wanted.limit is None:
                rows = self.conn.execute(f"{sql} ORDER BY created_at, session_id", params).fetchall()
            else:
                rows = self.conn.execute(f"{sql} ORDER BY created_at DESC, session_id DESC LIMIT %s",
                                         [*params, wanted.limit]).fetchall()
                rows.reverse()
        return [SessionRow._make(row) for row in rows]

    def resolve(self, text: str) -> SessionRef:
        if not text:
            raise InvalidSessionId("invalid session id '': it is empty")
        if not records.storable(text):
            raise SessionNotFound(f"session not found: {text}")
        with self._errors():
            if ":" not in text:
                # A short id names the session whose session part it is, if exactly one has it
                # (a MoFA key without ':' is its own session part).
                found = self.conn.execute(
                    "SELECT session_id, agent, name FROM mofa_sessions WHERE name = %s"
                    " ORDER BY session_id LIMIT 1000", (text,)).fetchall()
                if len(found) > 1:
                    raise AmbiguousSessionId(text, [row[0] for row in found])
                if not found:
                    found = self._by_id(text)
            else:
                found = self._by_id(text)
        if not found:
            raise SessionNotFound(f"session not found: {text}")
        session_id, agent, name = found[0]
        return SessionRef(session_id, agent, name, PostgresHandle(session_id))

    def _by_id(self, session_id: str) -> list:
        return self.conn.execute("SELECT session_id, agent, name FROM mofa_sessions"
                                 " WHERE session_id = %s", (session_id,)).fetchall()

    def load(self, ref: SessionRef) -> Session:
        # One statement, one snapshot: the fields and the messages of the same moment.
        with self._errors():
            row = self.conn.execute(
                "SELECT agent, name, layout, fields, messages_at, mtime_ns,"
                " ARRAY(SELECT message FROM mofa_messages m WHERE m.session_id = s.session_id"
                "       ORDER BY position)"
                " FROM mofa_sessions s WHERE session_id = %s", (ref.session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(f"session not found: {ref.session_id}")
        agent, name, layout, fields_text, messages_at, mtime_ns, message_texts = row
        try:
            fields = json.loads(fields_text)
            messages = [json.loads(text) for text in message_texts]
        except (ValueError, RecursionError) as error:
            raise CorruptSession(ref.session_id, f"stored JSON does not parse ({error})") from None
        return records.assemble(ref.session_id, agent, name, layout, fields, messages,
                                messages_at, mtime_ns)

    def search(self, query: str, wanted: SessionFilter = SessionFilter(),
               role: str | None = None) -> list[SearchHit]:
        """The plain matcher's answer (`mofa.searching`), the database narrowing it first: a
        message is a candidate only when its folded text holds every word of the query, and
        only candidates are matched (word by word, phrases, prefixes) in Python."""
        from mofa.searching import _term_words as term_words  # the plain matcher's own words
        from mofa.searching import match_message, parse_query

        terms = [(term_words(term), term.prefix) for term in parse_query(query)]
        terms = [(words, prefix) for words, prefix in terms if words]
        if wanted.limit is not None and wanted.limit <= 0:
            return []
        conditions, params = [], []
        for words, _ in terms:
            for word in words:  # letters and digits only: nothing LIKE would read as a pattern
                conditions.append("m.folded LIKE %s")
                params.append(f"%{word}%")
        for column, operator, value in (("m.role", "=", role), ("s.agent", "=", wanted.agent),
                                        ("s.created_at", ">=", wanted.since),
                                        ("s.created_at", "<", wanted.until)):
            if value is not None:
                if not records.storable(value):
                    return []
                conditions.append(f"{column} {operator} %s")
                params.append(value)
        with self._errors():
            rows = self.conn.execute(
                "SELECT s.session_id, s.agent, s.created_at, m.text"
                " FROM mofa_messages m JOIN mofa_sessions s USING (session_id)"
                f" WHERE {' AND '.join(conditions) or 'true'}"
                " ORDER BY s.session_id, m.position", params).fetchall()
        hits: dict[str, list] = {}
        for session_id, agent, created_at, text in rows:
            snippet = match_message(text, terms)
            if snippet is None:
                continue
            hit = hits.get(session_id)
            if hit is None:
                hits[session_id] = [session_id, agent, created_at, 1, snippet]
            else:
                hit[3] += 1
        # Best first: most matching messages, then the newest, then by id.
        found = sorted((SearchHit(*hit) for hit in hits.values()), key=lambda hit: hit.session_id)
        found.sort(key=lambda hit: (hit.matches, hit.created_at or ""), reverse=True)
        return found if wanted.limit is None else found[:wanted.limit]

    def complete_ids(self, prefix: str, limit: int = 200) -> list[str]:
        if not records.storable(prefix):
            return []
        with self._errors():
            rows = self.conn.execute("SELECT session_id FROM mofa_sessions WHERE starts_with("
                                     "session_id, %s) ORDER BY session_id LIMIT %s",
                                     (prefix, limit)).fetchall()
        return [row[0] for row in rows]

    # -- writing ---------------------------------------------------------------------------
    def delete(self, ref: SessionRef) -> None:
        with self._errors():
            deleted = self.conn.execute("DELETE FROM mofa_sessions WHERE session_id = %s",
                                        (ref.session_id,)).rowcount
        if not deleted:
            raise SessionNotFound(f"session not found: {ref.session_id}")

    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        records.check_id(session_id)
        layout, fields, messages, messages_at = records.split_document(session_id, document)
        agent, name = records.identity(session_id, layout, fields.get("metadata") or {})
        session = records.assemble(session_id, agent, name, layout, fields, messages, messages_at,
                                   time.time_ns())
        message_rows = [records.message_record(session_id, position, message)
                        for position, message in enumerate(messages)]
        record = records.session_record(session, fields, messages_at,
                                        [row.message for row in message_rows])
        ref = SessionRef(session_id, record.agent, record.name, PostgresHandle(session_id))
        if not replace:
            # One statement, so one round trip and a transaction of its own: the session row
            # and, only when this statement created it, its messages. The insert takes the id
            # (or waits for a concurrent saver of the same id, then sees its row): exactly one
            # of several savers creates it.
            columns = [list(column) for column in zip(*message_rows)] or [
                [] for _ in MessageRecord._fields]
            with self._errors():
                created = self.conn.execute(_INSERT_NEW, (*record, *columns[1:])).fetchone()[0]
            if not created:
                raise SessionExists(f"session {session_id!r} already exists (use --replace)")
            return ref
        with self._errors(), self.conn.transaction():
            # The upsert locks the row: concurrent replacers and appenders queue behind it.
            self.conn.execute(f"INSERT INTO mofa_sessions ({_RECORD_COLUMNS}) VALUES ({_RECORD_VALUES})"
                              f" ON CONFLICT (session_id) DO UPDATE SET {_RECORD_UPDATES}", record)
            self.conn.execute("DELETE FROM mofa_messages WHERE session_id = %s", (session_id,))
            if message_rows:
                with self.conn.cursor() as cursor, cursor.copy(
                        f"COPY mofa_messages ({_MESSAGE_COLUMNS}) FROM STDIN") as copy:
                    for row in message_rows:
                        copy.write_row(row)
        return ref

    def append(self, ref: SessionRef, message: dict) -> None:
        if not isinstance(message, dict):
            raise StoreError(f"cannot append to {ref.session_id}: a message is a JSON object")
        with self._errors(), self.conn.transaction():
            # The row lock makes concurrent appenders (and savers) of one session queue: each
            # reads the count left by the one before and takes the next position.
            row = self.conn.execute(
                "SELECT agent, name, layout, fields, messages_at, mtime_ns, message_count,"
                " content_hash FROM mofa_sessions WHERE session_id = %s FOR UPDATE",
                (ref.session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"session not found: {ref.session_id}")
            agent, name, layout, fields_text, messages_at, mtime_ns, count, content_hash = row
            first = message
            if count:
                first_text = self.conn.execute(
                    "SELECT message FROM mofa_messages WHERE session_id = %s AND position = 0",
                    (ref.session_id,)).fetchone()
                first = json.loads(first_text[0]) if first_text else {}
            fields = json.loads(fields_text)
            if layout == JSON_LAYOUT and messages_at is None:
                messages_at = len(fields)  # the files store adds the messages field at the end
            # The derived fields read only the first and the last message, and the count.
            messages = [first] + [{}] * (count - 1) + [message] if count else [message]
            session = records.assemble(ref.session_id, agent, name, layout, fields, messages,
                                       messages_at, mtime_ns)
            summary = session.summary()
            added = records.message_record(ref.session_id, count, message)
            self.conn.execute(f"INSERT INTO mofa_messages ({_MESSAGE_COLUMNS})"
                              f" VALUES ({', '.join(['%s'] * len(MessageRecord._fields))})", added)
            self.conn.execute(
                "UPDATE mofa_sessions SET created_at = %s, updated_at = %s, message_count = %s,"
                " status = %s, messages_at = %s, content_hash = %s WHERE session_id = %s",
                (summary.created_at, summary.updated_at, count + 1, records.cleaned(summary.status),
                 messages_at, records.chained_hash(content_hash, added.message), ref.session_id))

    # -- upkeep ----------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        with self._errors():
            sessions, messages, agents = self.conn.execute(
                "SELECT count(*), coalesce(sum(message_count), 0), count(DISTINCT agent)"
                " FROM mofa_sessions").fetchone()
            server = self.conn.execute("SHOW server_version").fetchone()[0]
        return {"store": self.kind, "url": self.where, "schema_version": self.schema_version,
                "server_version": server, "sessions": sessions, "messages": int(messages),
                "agents": agents}

    def verify(self, progress=None) -> VerifyReport:
        """The database's own invariants: each session's message_count is its number of
        message rows, at positions 0, 1, 2, ... (what appends and saves keep)."""
        with self._errors():
            examined = self.conn.execute("SELECT count(*) FROM mofa_sessions").fetchone()[0]
            wrong = self.conn.execute(
                "SELECT s.session_id, s.message_count, count(m.position),"
                "       coalesce(max(m.position) + 1, 0)"
                " FROM mofa_sessions s LEFT JOIN mofa_messages m USING (session_id)"
                " GROUP BY s.session_id, s.message_count"
                " HAVING s.message_count <> count(m.position)"
                "     OR coalesce(max(m.position) + 1, 0) <> count(m.position)"
                " ORDER BY s.session_id LIMIT 1000").fetchall()
        problems = [Problem("stale", session_id, f"message_count {count} but {rows} message rows"
                            f" (positions up to {end - 1})") for session_id, count, rows, end in wrong]
        return VerifyReport(examined, problems)

    def query(self, sql: str, timeout: float) -> QueryResult:
        """`sql` in a READ ONLY transaction under `statement_timeout`, through a server-side
        cursor: one statement only (the extended protocol refuses several), rows streamed."""
        psycopg = sys.modules["psycopg"]
        milliseconds = max(1, int(timeout * 1000))
        cursor = self.conn.cursor(name="mofa_query")

        def close() -> None:
            with contextlib.suppress(psycopg.Error):
                cursor.close()
            self._end_query()

        try:
            self.conn.execute("BEGIN TRANSACTION READ ONLY")
            self.conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
            cursor.execute(sql)
            columns = [column.name for column in cursor.description or ()]
            first = cursor.fetchmany(500)
        except psycopg.Error as error:
            close()
            raise self._query_error(error, sql, timeout) from None
        except BaseException:
            close()
            raise

        def rows() -> Iterator[tuple]:
            batch = first
            while batch:
                for row in batch:
                    yield tuple(_plain(value) for value in row)
                try:
                    batch = cursor.fetchmany(500)
                except psycopg.Error as error:
                    raise self._query_error(error, sql, timeout) from None

        return QueryResult(columns, rows(), close)

    def _end_query(self) -> None:
        psycopg = sys.modules["psycopg"]
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("ROLLBACK")

    def _query_error(self, error, sql: str, timeout: float) -> Exception:
        psycopg = sys.modules["psycopg"]
        errors = psycopg.errors
        if isinstance(error, errors.QueryCanceled):
            return QueryError(f"query stopped: it ran longer than the {timeout:g} s timeout")
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
                error, errors.InsufficientPrivilege):
            return StoreUnavailable(f"the PostgreSQL store at {self.where} failed: {one_line(error)}")
        if isinstance(error, errors.ReadOnlySqlTransaction):
            return QueryError(f"query refused: the store is read-only here ({one_line(error)})")
        if isinstance(error, errors.SyntaxError) and not _first_word(sql).startswith(_QUERY_WORDS):
            return QueryError("query refused: only one read-only SELECT (or WITH, VALUES, TABLE)"
                              " runs here")
        if isinstance(error, errors.SyntaxError) and "multiple commands" in str(error):
            return QueryError("query refused: one statement at a time")
        return QueryError(f"SQL error: {one_line(error)}")

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _first_word(sql: str) -> str:
    """The statement's first word, past blanks and comments, lower case."""
    text = sql
    while True:
        text = text.lstrip()
        if text.startswith("--"):
            text = text.partition("\n")[2]
        elif text.startswith("/*"):
            text = text.partition("*/")[2]
        else:
            return text[:8].lower()


def _plain(value):
    """A query's value as the CLI prints it (what SQLite would give: text, numbers, bytes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # strict JSON has no NaN
    if value is None or isinstance(value, (str, int)):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
