"""The PostgreSQL store: sessions in a database, one row per session and one per message.

Concurrency is the database's: a save is one transaction (insert, or refuse, or replace, with
its messages), an append locks its session's row so that concurrent appenders queue and each
takes the next position, and readers never wait on writers (MVCC). Every driver failure
becomes a named error whose message never shows a password.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from mofa.errors import (
    AmbiguousSessionId,
    CorruptSession,
    InvalidSessionId,
    OriginTaken,
    QueryError,
    ReadOnlySession,
    SessionExists,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
)
from mofa.numbers import exact_float
from mofa.plurals import counted
from mofa.session import JSON_LAYOUT, Session
from mofa.stores.base import (
    ALL,
    Problem,
    QueryResult,
    SearchHit,
    SessionFilter,
    SessionRef,
    SessionRow,
    SessionStore,
    UpkeepResult,
    VerifyReport,
    Warn,
)
from mofa.stores.postgres import mofa_tables, records
from mofa.stores.postgres.connect import connect, one_line
from mofa.stores.postgres.records import MessageRecord, SessionRecord
from mofa.stores.postgres.schema import migrate
from mofa.stores.rows import session_row_type
from mofa.stores.urls import masked

_ROW_COLUMNS = ", ".join(SessionRow._fields)
_RECORD_COLUMNS = ", ".join(SessionRecord._fields)
_RECORD_VALUES = ", ".join(
    "%s::jsonb" if field == "metadata" else "%s::text[]" if field == "tags" else "%s"
    for field in SessionRecord._fields
)
_RECORD_UPDATES = ", ".join(f"{field} = EXCLUDED.{field}" for field in SessionRecord._fields[1:])
_MESSAGE_COLUMNS = ", ".join(MessageRecord._fields)
# Binary arrays (%b): text arrays are escaped element by element in Python, five times slower.
_MESSAGE_ARRAYS = ", ".join(
    "%b::integer[]" if field == "position" else "%b::text[]" for field in MessageRecord._fields[1:]
)
_INSERT_NEW = (
    f"WITH saved AS (INSERT INTO mofa_sessions ({_RECORD_COLUMNS}) VALUES ({_RECORD_VALUES})"
    "  ON CONFLICT (origin, session_id) DO NOTHING RETURNING session_id),"
    f" added AS (INSERT INTO mofa_messages ({_MESSAGE_COLUMNS})"
    f"  SELECT saved.session_id, given.* FROM saved, unnest({_MESSAGE_ARRAYS}) AS given)"
    " SELECT count(*) FROM saved"
)

# The first word of a statement that can run as a read-only query (anything else is refused
# by the server; this only words the refusal).
_QUERY_WORDS = ("select", "with", "values", "table", "(")
_FIRST_BATCH = 16  # rows of a query fetched before their size is known


class PostgresHandle(NamedTuple):
    """How this store finds a session again: its origin and id (the primary key)."""

    session_id: str
    origin: str = ""


if TYPE_CHECKING:  # a type made at run time from SessionRow's fields: opaque to mypy
    OriginRow: TypeAlias = Any
else:
    OriginRow = session_row_type(
        "OriginRow",
        [("origin", str)],
        "A listing's row in a store that holds sessions of more than one origin.",
        __name__,
    )


def qualified(session_id: str, origin: str) -> str:
    """How a user names a session of a given origin."""
    return f"{session_id} --origin {origin}" if origin else f"{session_id} --origin ''"


class PostgresSessionStore(SessionStore):
    """Sessions in the PostgreSQL database at `url`; the schema is created or migrated first."""

    kind = "postgresql"

    def __init__(
        self, url: str, warn: Warn | None = None, notice: Warn | None = None, progress=None
    ):
        self.url = url
        self.where = masked(url)
        self.warn = warn
        self.notice = notice
        self.conn = connect(url)
        try:
            with self._errors():
                self.schema_version = migrate(self.conn, self.where, notice)
                # MoFA's own tables, when this database holds them: read alongside, read-only.
                self.mofa_tables = mofa_tables.present(self.conn)
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
            raise StoreUnavailable(
                f"the PostgreSQL store at {self.where} failed: {one_line(error)}"
            ) from None
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL error at {self.where}: {one_line(error)}") from None

    # -- reading ---------------------------------------------------------------------------
    def list(self, wanted: SessionFilter = ALL, wide: bool = False) -> builtins.list:
        if wanted.limit is not None and wanted.limit <= 0:
            return []
        conditions: builtins.list[str] = []
        params: builtins.list[object] = []
        for column, operator, value in (
            ("agent", "=", wanted.agent),
            ("created_at", ">=", wanted.since),
            ("created_at", "<", wanted.until),
            ("user_id", "=", wanted.user),
        ):
            if value is not None:
                if not records.storable(value):
                    return []  # no stored value holds a NUL or a lone surrogate
                conditions.append(f"{column} {operator} %s")
                params.append(value)
        if wanted.origin is not None:
            conditions.append("origin = %s")
            params.append(wanted.origin)
        if wanted.statuses:
            conditions.append("status = ANY(%s::text[])")
            params.append([records.cleaned(status) for status in wanted.statuses])
        if wanted.tags:
            conditions.append("tags @> %s::text[]")
            params.append([records.cleaned(tag) for tag in wanted.tags])
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # With --wide the title comes before the origin, as in WideRow.
        sql = f"SELECT {_ROW_COLUMNS}{', title' if wide else ''}, origin FROM mofa_sessions{where}"
        key = "coalesce(updated_at, created_at)" if wanted.sort == "updated" else "created_at"
        with self._errors():
            many = len(self.origins()) > 1
            if wanted.origin == mofa_tables.ORIGIN:
                rows = []
            elif wanted.limit is None:
                rows = self.conn.execute(
                    f"{sql} ORDER BY {key}, session_id, origin", params
                ).fetchall()
            else:
                rows = self.conn.execute(
                    f"{sql} ORDER BY {key} DESC, session_id DESC, origin DESC LIMIT %s",
                    [*params, wanted.limit],
                ).fetchall()
                rows.reverse()
            extra = mofa_tables.rows(self.conn, wanted, wide) if self.mofa_tables else []
        if extra:
            if wanted.sort == "updated":
                order = lambda row: (row[4] or row[3] or "", row[0], row[-1])  # noqa: E731
            else:
                order = lambda row: (row[3] or "", row[0], row[-1])  # noqa: E731
            rows = sorted([*rows, *extra], key=order)
            if wanted.limit is not None:
                rows = rows[max(len(rows) - wanted.limit, 0) :]
        if wide:
            from mofa.stores.wide import WideRow

            return [WideRow._make((*row[:-1], row[-1] if many else None)) for row in rows]
        if many:
            return [OriginRow._make(row) for row in rows]
        return [SessionRow._make(row[:-1]) for row in rows]

    def origins(self) -> builtins.list[str]:
        """The origins of the sessions held ('' for those written directly)."""
        with self._errors():
            # A loose index scan: one probe per origin, however many sessions each has.
            rows = self.conn.execute(
                "WITH RECURSIVE o(origin) AS ("
                " (SELECT origin FROM mofa_sessions ORDER BY origin LIMIT 1)"
                " UNION ALL SELECT (SELECT s.origin FROM mofa_sessions s WHERE s.origin > o.origin"
                "  ORDER BY s.origin LIMIT 1) FROM o WHERE o.origin IS NOT NULL)"
                " SELECT origin FROM o WHERE origin IS NOT NULL"
            ).fetchall()
            origins = [row[0] for row in rows]
            if (
                self.mofa_tables
                and self.conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM entity_chat_session)"
                ).fetchone()[0]
            ):
                origins.append(mofa_tables.ORIGIN)
        return origins

    def resolve(self, text: str, origin: str | None = None) -> SessionRef:
        """As every store's; `origin` narrows to the sessions of one origin. An id held under
        several origins is ambiguous without it: the candidates say which --origin to give."""
        if not text:
            raise InvalidSessionId("invalid session id '': it is empty")
        if not records.storable(text) or (origin is not None and not records.storable(origin)):
            raise SessionNotFound(f"session not found: {text}")
        mine, params = ("", []) if origin is None else (" AND origin = %s", [origin])
        with self._errors():
            found = []
            if ":" not in text:
                # A short id names the session whose session part it is, if exactly one has it
                # (a MoFA key without ':' is its own session part).
                found = self.conn.execute(
                    "SELECT session_id, agent, name, origin FROM mofa_sessions"
                    f" WHERE name = %s{mine} ORDER BY session_id, origin LIMIT 1000",
                    (text, *params),
                ).fetchall()
                if any(row[0] == text for row in found):  # a MoFA key: its own id, verbatim
                    found = [row for row in found if row[0] == text]
                if len(found) > 1 and len({row[0] for row in found}) > 1:
                    raise AmbiguousSessionId(text, self._candidates(found))
            if not found:
                found = self.conn.execute(
                    f"SELECT session_id, agent, name, origin FROM mofa_sessions"
                    f" WHERE session_id = %s{mine} ORDER BY origin",
                    (text, *params),
                ).fetchall()
            if self.mofa_tables and origin in (None, mofa_tables.ORIGIN):
                found = [*found, *mofa_tables.find(self.conn, text, ":" not in text)]
            exact = found
        if not exact:
            where = f" from origin {origin!r}" if origin is not None else ""
            raise SessionNotFound(f"session not found: {text}{where}")
        if len(exact) > 1:
            raise AmbiguousSessionId(text, self._candidates(exact))
        session_id, agent, name, origin = exact[0]
        return SessionRef(session_id, agent, name, PostgresHandle(session_id, origin))

    def resolve_origin(self, text: str, origin: str | None) -> SessionRef:
        return self.resolve(text, origin)

    def resolve_saved(self, session_id: str) -> SessionRef:
        # `save` writes sessions of no origin: mirrored ones with the same id are others.
        return self.resolve(session_id, "")

    @staticmethod
    def _candidates(found: builtins.list) -> builtins.list[str]:
        if len({row[3] for row in found}) > 1:
            return [qualified(row[0], row[3]) for row in found]
        return [row[0] for row in found]

    @staticmethod
    def _origin_of(ref: SessionRef) -> str:
        handle = ref.handle
        return handle.origin if isinstance(handle, PostgresHandle) else ""

    def load(self, ref: SessionRef) -> Session:
        if self.mofa_tables and self._origin_of(ref) == mofa_tables.ORIGIN:
            with self._errors(), self.conn.transaction():
                session = mofa_tables.load(self.conn, ref.session_id)
            if session is None:
                raise SessionNotFound(f"session not found: {ref.session_id}")
            return session
        # One statement, one snapshot: the fields and the messages of the same moment.
        with self._errors():
            row = self.conn.execute(
                "SELECT agent, name, layout, fields, messages_at, mtime_ns,"
                " ARRAY(SELECT message FROM mofa_messages m WHERE m.session_id = s.session_id"
                "       AND m.origin = s.origin ORDER BY position)"
                " FROM mofa_sessions s WHERE session_id = %s AND origin = %s",
                (ref.session_id, self._origin_of(ref)),
            ).fetchone()
        if row is None:
            raise SessionNotFound(f"session not found: {ref.session_id}")
        agent, name, layout, fields_text, messages_at, mtime_ns, message_texts = row
        try:
            fields = json.loads(fields_text, parse_float=exact_float)
            messages = [json.loads(text, parse_float=exact_float) for text in message_texts]
        except (ValueError, RecursionError) as error:
            raise CorruptSession(ref.session_id, f"stored JSON does not parse ({error})") from None
        return records.assemble(
            ref.session_id, agent, name, layout, fields, messages, messages_at, mtime_ns
        )

    def search(
        self, query: str, wanted: SessionFilter = ALL, role: str | None = None
    ) -> builtins.list[SearchHit]:
        """The plain matcher's answer (`mofa.searching`), decided by the database: each term is
        a `LIKE` over the messages' folded words (mofa.stores.postgres.search), narrowed by the
        pg_trgm index when there is one; sessions are counted, ordered and limited in SQL, and
        only the hits' first matching messages come back, for their snippets."""
        from mofa.searching import match_message, parse_query, plain_terms

        tree = parse_query(query)
        terms = plain_terms(tree)  # words that must all be there: the fast ranking takes them
        if wanted.limit is not None and wanted.limit <= 0:
            return []
        session_conditions, session_params = [], []
        for column, operator, value in (
            ("s.agent", "=", wanted.agent),
            ("s.origin", "=", wanted.origin),
            ("s.created_at", ">=", wanted.since),
            ("s.created_at", "<", wanted.until),
        ):
            if value is not None:
                if not records.storable(value):
                    return []
                session_conditions.append(f"{column} {operator} %s")
                session_params.append(value)
        if role is not None and not records.storable(role):
            return []
        rows: builtins.list[Any] | None
        with self._errors():
            if wanted.origin == mofa_tables.ORIGIN:
                rows = []
            elif wanted.limit is not None and terms is not None:
                # Best first with a limit: bounded by the per-session word counts, only the
                # likely best sessions' messages are counted (mofa.stores.postgres.ranking).
                from mofa.stores.postgres.ranking import ranked

                with self.conn.transaction():
                    # One snapshot for the bounds and the counts. No parallel workers: each
                    # would start cold (a process, its catalog caches) for a few milliseconds
                    # of work: 24 ms against 17 for two common words on 100,000 sessions.
                    self.conn.execute(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                        " SET LOCAL max_parallel_workers_per_gather = 0"
                    )
                    rows = ranked(
                        self.conn, terms, session_conditions, session_params, role, wanted.limit
                    )
            else:
                rows = None
            if rows is None:
                rows = self._counted(tree, session_conditions, session_params, role, wanted.limit)
            extra = (
                mofa_tables.messages_for_search(self.conn, wanted, role) if self.mofa_tables else []
            )
        hits = [
            (
                SearchHit(
                    session_id,
                    agent,
                    created_at,
                    matches,
                    match_message(text, tree) or "",
                    first + 1,
                ),
                origin,
            )
            for session_id, agent, created_at, matches, text, origin, first in rows
        ]
        if extra:
            # MoFA's own tables have no words column: their messages are matched here.
            hits += _matched(extra, tree)
            hits.sort(key=lambda pair: (pair[0].session_id, pair[1]))
            hits.sort(key=lambda pair: (pair[0].matches, pair[0].created_at or ""), reverse=True)
            if wanted.limit is not None:
                hits = hits[: wanted.limit]
        return [hit for hit, _ in hits]

    def _counted(
        self,
        tree,
        session_conditions: builtins.list[str],
        session_params: builtins.list,
        role: str | None,
        limit: int | None,
    ) -> builtins.list[tuple]:
        """Every session's matching messages counted (what a search without a limit, or with
        OR or a negation, needs): the query a boolean combination of `LIKE`s over the
        messages' folded words (mofa.stores.postgres.search), ordered and limited in SQL."""
        from mofa.stores.postgres.search import words_condition

        matching, params = words_condition(tree)
        conditions = [matching]
        if role is not None:
            conditions.append("m.role = %s")
            params.append(role)
        conditions += session_conditions
        params += session_params
        limited = ""
        if limit is not None:
            limited = " LIMIT %s"
            params.append(limit)
        # Best first: most matching messages, then the newest, then by id (and origin).
        sql = (
            "SELECT h.session_id, s.agent, s.created_at, h.matches, f.text, h.origin, h.first"
            " FROM (SELECT m.origin, m.session_id, count(*) AS matches, min(m.position) AS first"
            " FROM mofa_messages m JOIN mofa_sessions s USING (origin, session_id)"
            f" WHERE {' AND '.join(conditions)} GROUP BY m.origin, m.session_id) h"
            " JOIN mofa_sessions s USING (origin, session_id)"
            " JOIN mofa_messages f ON f.origin = h.origin AND f.session_id = h.session_id"
            "  AND f.position = h.first"
            " ORDER BY h.matches DESC, s.created_at DESC, h.session_id, h.origin" + limited
        )
        return self.conn.execute(sql, params).fetchall()

    def complete_ids(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        """Ids starting with `prefix` (and, for a short prefix, ids whose session part does),
        MoFA's own chat sessions included."""
        if not records.storable(prefix):
            return []
        columns = ["session_id"] if ":" in prefix else ["session_id", "name"]
        with self._errors():
            ids = [
                row[0]
                for column in columns
                for row in self.conn.execute(
                    f"SELECT DISTINCT session_id FROM mofa_sessions WHERE starts_with({column}, %s)"
                    f" ORDER BY session_id LIMIT %s",
                    (prefix, limit),
                ).fetchall()
            ]
            if self.mofa_tables:
                ids += mofa_tables.ids_starting(self.conn, prefix, limit)
        return sorted(set(ids))[:limit]

    def complete_agents(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        if not records.storable(prefix):
            return []
        with self._errors():
            # A loose index scan over (agent, ...): one probe per agent, not one row per session.
            agents = [
                row[0]
                for row in self.conn.execute(
                    "WITH RECURSIVE a(agent) AS ("
                    " (SELECT agent FROM mofa_sessions WHERE agent >= %s ORDER BY agent LIMIT 1)"
                    " UNION ALL SELECT (SELECT s.agent FROM mofa_sessions s WHERE s.agent > a.agent"
                    "  ORDER BY s.agent LIMIT 1) FROM a WHERE starts_with(a.agent, %s))"
                    " SELECT agent FROM a WHERE starts_with(agent, %s) LIMIT %s",
                    (prefix, prefix, prefix, limit),
                ).fetchall()
            ]
            if self.mofa_tables:
                agents += mofa_tables.agents_starting(self.conn, prefix, limit)
        return sorted(set(agents))[:limit]

    # -- writing ---------------------------------------------------------------------------
    def delete(self, ref: SessionRef) -> None:
        self.check_deletable(ref)
        with self._errors():
            deleted = self.conn.execute(
                "DELETE FROM mofa_sessions WHERE session_id = %s AND origin = ''", (ref.session_id,)
            ).rowcount
        if not deleted:
            raise SessionNotFound(f"session not found: {ref.session_id}")

    def check_deletable(self, ref: SessionRef) -> None:
        origin = self._origin_of(ref)
        if origin == mofa_tables.ORIGIN:
            raise ReadOnlySession(
                f"session {ref.session_id} is in MoFA's own tables"
                " (entity_chat_session): read-only here"
            )
        if origin:
            # The host's files are the truth: a row deleted here would come back at its next
            # reconcile, or worse, look deleted while the host still has it.
            raise ReadOnlySession(
                f"session {ref.session_id} is mirrored from origin {origin!r}:"
                " delete it on that host"
            )

    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        record, message_rows = records.prepared(session_id, document, time.time_ns())
        ref = SessionRef(session_id, record.agent, record.name, PostgresHandle(session_id))
        if not replace:
            # One statement, so one round trip and a transaction of its own: the session row
            # and, only when this statement created it, its messages. The insert takes the id
            # (or waits for a concurrent saver of the same id, then sees its row): exactly one
            # of several savers creates it.
            columns = [list(column) for column in zip(*message_rows, strict=True)] or [
                [] for _ in MessageRecord._fields
            ]
            with self._errors():
                created = self.conn.execute(_INSERT_NEW, (*record, *columns[1:])).fetchone()[0]
            if not created:
                raise SessionExists(f"session {session_id!r} already exists (use --replace)")
            return ref
        with self._errors(), self.conn.transaction():
            # The upsert locks the row: concurrent replacers and appenders queue behind it.
            self.conn.execute(
                f"INSERT INTO mofa_sessions ({_RECORD_COLUMNS}) VALUES ({_RECORD_VALUES})"
                f" ON CONFLICT (origin, session_id) DO UPDATE SET {_RECORD_UPDATES}",
                record,
            )
            self.conn.execute(
                "DELETE FROM mofa_messages WHERE session_id = %s AND origin = ''", (session_id,)
            )
            if message_rows:
                with (
                    self.conn.cursor() as cursor,
                    cursor.copy(f"COPY mofa_messages ({_MESSAGE_COLUMNS}) FROM STDIN") as copy,
                ):
                    for row in message_rows:
                        copy.write_row(row)
        return ref

    def append(self, ref: SessionRef, message: dict) -> None:
        if not isinstance(message, dict):
            raise StoreError(f"cannot append to {ref.session_id}: a message is a JSON object")
        if self._origin_of(ref):
            raise ReadOnlySession(
                f"session {ref.session_id} is mirrored from origin"
                f" {self._origin_of(ref)!r}: change it on that host"
            )
        with self._errors(), self.conn.transaction():
            # The row lock makes concurrent appenders (and savers) of one session queue: each
            # reads the count left by the one before and takes the next position.
            row = self.conn.execute(
                "SELECT agent, name, layout, fields, messages_at, mtime_ns, message_count,"
                " content_hash, title FROM mofa_sessions WHERE session_id = %s AND origin = ''"
                " FOR UPDATE",
                (ref.session_id,),
            ).fetchone()
            if row is None:
                raise SessionNotFound(f"session not found: {ref.session_id}")
            agent, name, layout, fields_text, messages_at, mtime_ns, count, content_hash, title = (
                row
            )
            first = message
            if count:
                first_text = self.conn.execute(
                    "SELECT message FROM mofa_messages WHERE session_id = %s AND origin = ''"
                    " AND position = 0",
                    (ref.session_id,),
                ).fetchone()
                first = json.loads(first_text[0], parse_float=exact_float) if first_text else {}
            fields = json.loads(fields_text, parse_float=exact_float)
            if layout == JSON_LAYOUT and messages_at is None:
                messages_at = len(fields)  # the files store adds the messages field at the end
            # The derived fields read only the first and the last message, and the count.
            messages = [first] + [{}] * (count - 1) + [message] if count else [message]
            session = records.assemble(
                ref.session_id, agent, name, layout, fields, messages, messages_at, mtime_ns
            )
            summary = session.summary()
            if title is None:  # maybe this is the first user message: it names the session
                title = self._appended_title(ref.session_id, session.metadata, message)
            added = records.message_record(ref.session_id, count, message)
            self.conn.execute(
                f"INSERT INTO mofa_messages ({_MESSAGE_COLUMNS})"
                f" VALUES ({', '.join(['%s'] * len(MessageRecord._fields))})",
                added,
            )
            self.conn.execute(
                "UPDATE mofa_sessions SET created_at = %s, updated_at = %s, message_count = %s,"
                " status = %s, messages_at = %s, content_hash = %s, title = %s"
                " WHERE session_id = %s AND origin = ''",
                (
                    summary.created_at,
                    summary.updated_at,
                    count + 1,
                    records.cleaned(summary.status),
                    messages_at,
                    records.chained_hash(content_hash, added.message),
                    title,
                    ref.session_id,
                ),
            )

    def _appended_title(self, session_id: str, metadata: dict, message: dict) -> str | None:
        """The title of a session that had none, once `message` is appended to it: from its
        first user message, which may be `message`."""
        from mofa.session import title_of

        first = self.conn.execute(
            "SELECT message FROM mofa_messages WHERE session_id = %s AND origin = ''"
            " AND role = 'user' ORDER BY position LIMIT 1",
            (session_id,),
        ).fetchone()
        messages = [json.loads(first[0], parse_float=exact_float)] if first else [message]
        return records.cleaned(title_of(metadata, messages))

    # -- mirroring (mofa-indexd --sync-to) ------------------------------------------------
    def mirror_hashes(self, origin: str, ids: builtins.list[str] | None = None) -> dict[str, str]:
        """session_id -> content_hash of the sessions mirrored from `origin` (of `ids` only,
        when given), as the database holds them now: a session that lost message rows has
        the hash '' (it is sent again whole)."""
        only = "" if ids is None else " AND s.session_id = ANY(%s::text[])"
        params = (origin,) if ids is None else (origin, list(ids))
        with self._errors():
            rows = self.conn.execute(
                "SELECT s.session_id, CASE WHEN s.message_count = (SELECT count(*)"
                " FROM mofa_messages m WHERE m.origin = s.origin AND m.session_id = s.session_id)"
                " THEN s.content_hash ELSE '' END FROM mofa_sessions s WHERE s.origin = %s" + only,
                params,
            ).fetchall()
        return dict(rows)

    def mirror_claim(self, origin: str, owner: tuple[str, str], replaceable=None) -> None:
        """Make `origin` the origin of `owner` (host, root path): new, unclaimed (mirrored
        before roots were recorded) or already its own. An origin of another root is refused
        with OriginTaken naming it, unless `replaceable(host, root)` says that root is gone."""

        if not origin:
            raise StoreError("a mirror needs a non-empty origin")
        with self._errors(), self.conn.transaction():
            self.conn.execute(
                "INSERT INTO mofa_origins (origin, last_sync, sessions) VALUES (%s, now(), 0)"
                " ON CONFLICT (origin) DO NOTHING",
                (origin,),
            )
            host, root = self.conn.execute(
                "SELECT host, root FROM mofa_origins WHERE origin = %s FOR UPDATE", (origin,)
            ).fetchone()
            if root is not None and (host, root) != tuple(owner):
                if replaceable is None or not replaceable(host, root):
                    raise OriginTaken(
                        f"origin {origin!r} already mirrors the root {root} on host {host}:"
                        " give this root another --origin NAME"
                    )
            self.conn.execute(
                "UPDATE mofa_origins SET host = %s, root = %s WHERE origin = %s", (*owner, origin)
            )

    def mirror_apply(
        self,
        origin: str,
        upserts: builtins.list,
        deletes: builtins.list[str],
        sessions: int,
        owner: tuple[str, str] | None = None,
    ) -> None:
        """In one transaction: each (SessionRecord, [MessageRecord]) of `upserts` replaces the
        session of that id from `origin`, each id of `deletes` goes, and the origin's last
        sync time and session count are noted. Nothing changes when any of it fails, or when
        `origin` no longer belongs to `owner` (OriginTaken)."""

        if not origin:
            raise StoreError("a mirror needs a non-empty origin")
        columns = f"origin, {_RECORD_COLUMNS}"
        values = f"%s, {_RECORD_VALUES}"
        with self._errors(), self.conn.transaction():
            if owner is not None:
                held = self.conn.execute(
                    "SELECT host, root FROM mofa_origins WHERE origin = %s FOR UPDATE", (origin,)
                ).fetchone()
                if held is None or tuple(held) != tuple(owner):
                    where = "nobody" if held is None else f"the root {held[1]} on host {held[0]}"
                    raise OriginTaken(f"origin {origin!r} now belongs to {where}")
            if deletes:
                self.conn.execute(
                    "DELETE FROM mofa_sessions WHERE origin = %s AND session_id = ANY(%s::text[])",
                    (origin, list(deletes)),
                )
            if upserts:
                ids = [record.session_id for record, _ in upserts]
                # Gone first, then inserted afresh: the messages go with their session (cascade).
                self.conn.execute(
                    "DELETE FROM mofa_sessions WHERE origin = %s AND session_id = ANY(%s::text[])",
                    (origin, ids),
                )
                with self.conn.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO mofa_sessions ({columns}) VALUES ({values})",
                        [(origin, *record) for record, _ in upserts],
                    )
                    with cursor.copy(
                        f"COPY mofa_messages (origin, {_MESSAGE_COLUMNS}) FROM STDIN"
                    ) as copy:
                        for _, message_rows in upserts:
                            for row in message_rows:
                                copy.write_row((origin, *row))
            changed = ", last_change = now()" if upserts or deletes else ""
            self.conn.execute(
                "INSERT INTO mofa_origins (origin, last_sync, last_change, sessions)"
                " VALUES (%s, now(), now(), %s) ON CONFLICT (origin) DO UPDATE SET"
                f" last_sync = now(), sessions = EXCLUDED.sessions{changed}",
                (origin, sessions),
            )

    def origin_status(self) -> builtins.list[dict[str, object]]:
        """Per mirroring origin: when it last synced, how long ago, how many sessions."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT o.origin, o.last_sync, o.last_change,"
                " extract(epoch FROM now() - o.last_sync)::float8,"
                " (SELECT count(*) FROM mofa_sessions s WHERE s.origin = o.origin)"
                " FROM mofa_origins o ORDER BY o.origin"
            ).fetchall()
        return [
            {
                "origin": origin,
                "last_sync": last_sync.isoformat() if last_sync else None,
                "last_change": last_change.isoformat() if last_change else None,
                "lag_s": round(lag, 3),
                "sessions": count,
            }
            for origin, last_sync, last_change, lag, count in rows
        ]

    # -- upkeep ----------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        with self._errors():
            sessions, messages, agents = self.conn.execute(
                "SELECT count(*), coalesce(sum(message_count), 0), count(DISTINCT agent)"
                " FROM mofa_sessions"
            ).fetchone()
            server = self.conn.execute("SHOW server_version").fetchone()[0]
        report = {
            "store": self.kind,
            "url": self.where,
            "schema_version": self.schema_version,
            "server_version": server,
            "sessions": sessions,
            "messages": int(messages),
            "agents": agents,
        }
        report["search_index"] = self.search_index()
        origins = self.origin_status()
        if origins:
            report["origins"] = origins
        return report

    def search_index(self) -> str:
        """What narrows a search here: the pg_trgm index and its size, or why there is none."""
        from mofa.stores.postgres.search import INDEX, trigram_index

        with self._errors():
            if trigram_index(self.conn) is not None:
                size = self.conn.execute(
                    "SELECT pg_size_pretty(pg_relation_size(%s))", (INDEX,)
                ).fetchone()[0]
                return f"pg_trgm GIN {INDEX} ({size})"
            available = self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')"
            ).fetchone()[0]
        why = (
            "the server lacks the pg_trgm extension (postgresql-contrib)"
            if not available
            else "pg_trgm could not be created (CREATE EXTENSION pg_trgm needs the database's"
            " CREATE privilege)"
        )
        return (
            f"none: {why}; searches stay exact but read every message;"
            " `mofa session index rebuild` creates it once pg_trgm can be had"
        )

    def index_name(self) -> str:
        return f"the search index in the database at {self.where}"

    def rebuild(self, progress=None) -> UpkeepResult:
        """Recompute what the database derives for search (each message's folded words), then
        rebuild the pg_trgm index (REINDEX), creating it (and pg_trgm) when missing. Writers
        are not held: the words are rewritten a batch per transaction, the index concurrently."""
        from mofa.stores.postgres import words
        from mofa.stores.postgres.search import (
            INDEX,
            create_trigram_index,
            fill_words,
            trigram_index,
        )

        warnings = []
        with self._errors():
            fill_words(self.conn, progress)
            # The per-session word counts follow the words by triggers; recount any that
            # disagree all the same (triggers disabled once, or rows edited by hand).
            before = None
            while (stale := words.stale(self.conn)) and stale != before:  # 1000 rows a pass
                words.recount(
                    self.conn, sorted({(origin, session_id) for origin, session_id, _ in stale})
                )
                before = stale
            if trigram_index(self.conn) is not None:
                # CONCURRENTLY: agents keep appending while it rebuilds (a plain REINDEX would
                # hold their inserts for the minutes a big index takes).
                self.conn.execute(f"REINDEX INDEX CONCURRENTLY {INDEX}")
            else:
                with self.conn.transaction():
                    why = create_trigram_index(self.conn)
                if why is not None:
                    warnings.append(
                        f"no search index: {why} (searches stay exact but read every message)"
                    )
            self.conn.execute("ANALYZE mofa_messages")
            sessions = self.conn.execute("SELECT count(*) FROM mofa_sessions").fetchone()[0]
        return UpkeepResult(sessions, 0, warnings)

    def verify(self, progress=None) -> VerifyReport:
        """The database's own invariants: each session's message_count is its number of
        message rows, at positions 0, 1, 2, ... (what appends and saves keep), and each
        message's search words are those of its text (what `rebuild` recomputes)."""
        from mofa.stores.postgres import words
        from mofa.stores.postgres.search import stale_words

        with self._errors():
            examined = self.conn.execute("SELECT count(*) FROM mofa_sessions").fetchone()[0]
            wrong = self.conn.execute(
                "SELECT s.session_id, s.message_count, count(m.position),"
                "       coalesce(max(m.position) + 1, 0)"
                " FROM mofa_sessions s LEFT JOIN mofa_messages m USING (origin, session_id)"
                " GROUP BY s.origin, s.session_id, s.message_count"
                " HAVING s.message_count <> count(m.position)"
                "     OR coalesce(max(m.position) + 1, 0) <> count(m.position)"
                " ORDER BY s.session_id LIMIT 1000"
            ).fetchall()
            problems = [
                Problem(
                    "stale",
                    session_id,
                    f"message_count {count} but {counted(rows, 'message row')}"
                    f" (positions up to {end - 1})",
                )
                for session_id, count, rows, end in wrong
            ]
            # What search reads, derived from each message's text: as `rebuild` would write it?
            problems += [
                Problem(
                    "stale",
                    session_id if not origin else qualified(session_id, origin),
                    f"message {position + 1}: its search words are out of date",
                )
                for origin, session_id, position in stale_words(self.conn, progress)
            ]
            # And the per-session word counts that bound a ranked search (triggers keep them).
            sessions = sorted(
                {(origin, session_id) for origin, session_id, _ in words.stale(self.conn)}
            )
            problems += [
                Problem(
                    "stale",
                    session_id if not origin else qualified(session_id, origin),
                    "its word counts for search are out of date",
                )
                for origin, session_id in sessions
            ]
        return VerifyReport(examined, problems)

    def query(self, sql: str, timeout: float | None) -> QueryResult:
        """`sql` in a READ ONLY transaction through a server-side cursor: one statement only
        (the extended protocol refuses several), rows streamed in batches of at most about
        the size limit. The timeout is the server's `statement_timeout` and the client's own
        (`QueryLimits` cancels the query: a statement may turn the server's off)."""
        from mofa.stores.queries import QueryLimits

        psycopg = sys.modules["psycopg"]
        # The server's limit is an int of milliseconds (about 24 days): longer is the client's.
        milliseconds = min(max(1, int(timeout * 1000)), 2**31 - 1) if timeout else 0
        limits = QueryLimits(timeout, self.conn.cancel_safe)
        cursor = self.conn.cursor(name="mofa_query")

        def close() -> None:
            limits.close()
            with contextlib.suppress(psycopg.Error):
                cursor.close()
            self._end_query()

        def failure(error) -> Exception:
            if limits.expired or isinstance(error, psycopg.errors.QueryCanceled):
                return limits.timed_out()
            return self._query_error(error, sql)

        try:
            self.conn.execute("BEGIN TRANSACTION READ ONLY")
            self.conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
            cursor.execute(sql)
            columns = [column.name for column in cursor.description or ()]
            first = cursor.fetchmany(_FIRST_BATCH)
        except psycopg.Error as error:
            close()
            raise failure(error) from None
        except BaseException:
            close()
            raise

        def rows() -> Iterator[tuple]:
            batch = first
            while batch:
                size = 0
                for row in batch:
                    limits.check_time()  # the time spent writing the output counts
                    size += limits.row_size(row)
                    yield tuple(_cli_value(value) for value in row)
                # The next batch holds about the size limit at most, and 500 rows.
                count = max(1, min(500, len(batch) * limits.max_bytes // max(size, 1)))
                try:
                    batch = cursor.fetchmany(count)
                except psycopg.Error as error:
                    raise failure(error) from None

        return QueryResult(columns, rows(), close)

    def _end_query(self) -> None:
        psycopg = sys.modules["psycopg"]
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("ROLLBACK")

    def _query_error(self, error, sql: str) -> Exception:
        psycopg = sys.modules["psycopg"]
        errors = psycopg.errors
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
            error, errors.InsufficientPrivilege
        ):
            return StoreUnavailable(
                f"the PostgreSQL store at {self.where} failed: {one_line(error)}"
            )
        if isinstance(error, errors.ReadOnlySqlTransaction):
            return QueryError(f"query refused: the store is read-only here ({one_line(error)})")
        if isinstance(error, errors.SyntaxError) and not _first_word(sql).startswith(_QUERY_WORDS):
            return QueryError(
                "query refused: only one read-only SELECT (or WITH, VALUES, TABLE) runs here"
            )
        if isinstance(error, errors.SyntaxError) and "multiple commands" in str(error):
            return QueryError("query refused: one statement at a time")
        return QueryError(f"SQL error: {one_line(error)}")

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _matched(rows, tree) -> list[tuple[SearchHit, str]]:
    """(hit, origin) of each session among `rows` (session_id, agent, created_at, text, origin,
    position; in session order) with messages matching `tree`, by the plain matcher."""
    from mofa.searching import match_message

    hits: dict[tuple, list] = {}
    for session_id, agent, created_at, text, origin, position in rows:
        snippet = match_message(text, tree)
        if snippet is None:
            continue
        hit = hits.get((origin, session_id))
        if hit is None:
            hits[(origin, session_id)] = [session_id, agent, created_at, 1, snippet, position]
        else:
            hit[3] += 1
    return [(SearchHit(*hit), origin) for (origin, _), hit in hits.items()]


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


def _cli_value(value):
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
