"""The index of one sessions root: a SQLite file with one row per session (table `sessions`)."""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import sqlite3
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from indexer.index.database import MEMORY, is_corruption, open_index, replace_broken_index
from mofa.errors import IndexFailed, IndexUnavailable
from mofa.stores.base import SessionFilter, SessionRow

if TYPE_CHECKING:
    from indexer.build.freshness import RefreshResult
    from indexer.build.refresh import Progress

ROW_COLUMNS = ", ".join(SessionRow._fields)


class JsonlMatch(NamedTuple):
    """A MoFA session found by id or session part: where its file is."""

    session_id: str
    agent: str
    name: str
    file: str


def _failed(error: Exception) -> Exception:

    return IndexFailed(f"index error: {error}")


def filter_clause(wanted: SessionFilter) -> tuple[str, list]:
    """`WHERE ...` and its parameters for every filter of `wanted` but the limit."""
    terms, params = [], []
    if wanted.agent is not None:
        terms.append("agent = ?")
        params.append(wanted.agent)
    if wanted.since is not None:
        terms.append("created_at >= ?")
        params.append(wanted.since)
    if wanted.until is not None:
        terms.append("created_at < ?")
        params.append(wanted.until)
    if wanted.statuses:
        terms.append(f"status IN ({', '.join('?' * len(wanted.statuses))})")
        params.extend(wanted.statuses)
    if wanted.user is not None:
        terms.append("user_id = ?")
        params.append(wanted.user)
    for tag in wanted.tags:
        terms.append("EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE value = ?)")
        params.append(tag)
    return ("WHERE " + " AND ".join(terms) if terms else ""), params


class SessionIndex:
    """Queries and refreshes of the index at `path` for the sessions under `root`."""

    def __init__(self, root: str, path: str, notice: Callable[[str], None] | None = None):
        self.root = root
        self.path = path
        self.notice = notice
        self.conn = open_index(path, root, notice)

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def close(self) -> None:
        self.conn.close()

    def _repaired(self, operation, reads: bool = False):
        """Run `operation`; if the index turns out corrupt midway, rebuild it and run it again
        (one that `reads` the index, once the new index is filled from the files: never
        answered from the new, empty one)."""
        try:
            return operation()
        except sqlite3.DatabaseError as error:
            if not is_corruption(error) or self.in_memory:
                raise _failed(error) from None
            reason = str(error)
        self.conn.close()
        if self.notice:
            self.notice(
                f"the index {self.path} was unusable ({reason}); "
                "rebuilding it from the session files"
            )
        self.conn = replace_broken_index(self.path, self.root, reason)
        try:
            if reads:
                self.refresh(None)
            return operation()
        except sqlite3.Error as error:
            raise _failed(error) from None

    def _refresher(self, progress: "Progress | None" = None):
        from indexer.build.refresh import Refresher  # only commands that stat the files need it

        return Refresher(self.conn, self.root, progress)

    def refresh(
        self, agent: str | None = None, progress: "Progress | None" = None
    ) -> "RefreshResult":
        def operation():
            from indexer.build.freshness import RefreshResult, survey

            seen = survey(
                self.conn, self.root, agent
            )  # unchanged, most often: no refresh to import
            if type(seen) is RefreshResult:
                return seen
            return self._refresher(progress).refresh(agent, survey=seen)

        return self._repaired(operation)

    def refresh_dirs(
        self, directories, progress: "Progress | None" = None, force=False
    ) -> "RefreshResult":
        return self._repaired(
            lambda: self._refresher(progress).refresh_dirs(directories, force=force)
        )

    def refresh_files(self, directory: str, names) -> int:
        return self._repaired(lambda: self._refresher().refresh_files(directory, names))

    def rebuild(self, progress: "Progress | None" = None) -> "RefreshResult":
        """Read every file again and replace every row in one transaction: a reader sees the
        whole old index until the commit, then the whole new one."""
        return self._repaired(lambda: self._refresher(progress).refresh(None, rebuild=True))

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, sql: str, params=()) -> Iterator[tuple]:
        """Rows of `sql`; corruption found before the first row is repaired, later it raises."""

        def first():
            cursor = self.conn.execute(sql, params)
            return cursor, cursor.fetchone()

        cursor, row = self._repaired(first, reads=True)
        if row is None:
            return
        yield row
        # Not `yield from`: closing this generator (a reader that stopped early, at exit after
        # the connection closed) would call cursor.close() and fail on the closed database.
        try:
            for row in cursor:
                yield row
        except sqlite3.DatabaseError as error:
            raise _failed(error) from None

    def select(self, sql: str, params=()) -> Iterator[tuple]:
        """Rows of one of the index's own queries (for the indexer's modules)."""
        return self._rows(sql, params)

    def _all(self, sql: str, params=()) -> list[tuple]:
        return self._repaired(lambda: self.conn.execute(sql, params).fetchall(), reads=True)

    def list_rows(self, wanted: SessionFilter, wide: bool = False) -> Iterator[SessionRow]:
        """The sessions `wanted` names, oldest first (by created_at, or last activity with
        `wanted.sort` "updated"); with a limit, the newest `limit` of them. `wide`: WideRows."""
        where, params = filter_clause(wanted)
        if wide or wanted.sort != "created":
            return self._other_rows(wanted, wide, where, params)
        if wanted.limit is None:
            sql = f"SELECT {ROW_COLUMNS} FROM sessions {where} ORDER BY created_at, session_id"
        else:
            sql = (
                f"SELECT * FROM (SELECT {ROW_COLUMNS} FROM sessions {where}"
                " ORDER BY created_at DESC, session_id DESC LIMIT ?)"
                " ORDER BY created_at, session_id"
            )
            params.append(wanted.limit)
        return map(SessionRow._make, self._rows(sql, params))

    def _other_rows(self, wanted: SessionFilter, wide: bool, where: str, params: list):
        """`list_rows` with --wide or --sort updated (apart: the default listing's SQL and row
        building stay as they are)."""
        key = "coalesce(updated_at, created_at)" if wanted.sort == "updated" else "created_at"
        columns = ROW_COLUMNS + (", title" if wide else "")
        if wanted.limit is None:
            sql = f"SELECT {columns} FROM sessions {where} ORDER BY {key}, session_id"
        else:
            sql = (
                f"SELECT * FROM (SELECT {columns}, {key} AS sort_key FROM sessions {where}"
                " ORDER BY sort_key DESC, session_id DESC LIMIT ?)"
                " ORDER BY sort_key, session_id"
            )
            params.append(wanted.limit)
        rows = self._rows(sql, params)
        size = len(SessionRow._fields) + wide  # the sort key left out
        if wide:
            from mofa.stores.wide import WideRow

            return (WideRow(*row[:size]) for row in rows)
        return (SessionRow._make(row[:size]) for row in rows)

    def bad_files(self, agent: str | None = None) -> list[str]:
        if agent is None:
            rows = self._all("SELECT error FROM bad_files ORDER BY path")
        else:
            rows = self._all("SELECT error FROM bad_files WHERE dir = ? ORDER BY path", (agent,))
        return [error for (error,) in rows]

    def bad_file_error(self, directory: str, file: str) -> str | None:
        """Why a file is not listed, when it is not."""
        for (error,) in self._all(
            "SELECT error FROM bad_files WHERE dir = ? AND file = ?", (directory, file)
        ):
            return error
        return None

    def jsonl_matches(self, full_id: str | None, name: str | None) -> list[JsonlMatch]:
        """MoFA sessions with this id or session part."""
        return [
            JsonlMatch._make(row)
            for row in self._all(
                f"SELECT {', '.join(JsonlMatch._fields)} FROM sessions"
                " WHERE dir = '' AND layout = 'jsonl' AND (session_id = ? OR name = ?)"
                " ORDER BY session_id",
                (full_id, name),
            )
        ]

    def unreadable_jsonl_matches(self, full_id: str | None, name: str | None) -> list[JsonlMatch]:
        """MoFA files that cannot be read as sessions, by the id their file name gives (its
        stem) or that id's session part, unless a readable session has that id: so that
        `show` can say why and `delete` can remove them."""
        rows = self._all(
            "SELECT session_id, file FROM bad_files WHERE dir = '' AND duplicate_of IS NULL"
            " AND (session_id = ? OR substr(session_id, instr(session_id, ':') + 1) = ?)"
            " AND session_id NOT IN (SELECT session_id FROM sessions) ORDER BY session_id",
            (full_id, name),
        )
        found = []
        for session_id, file_name in rows:
            head, sep, tail = session_id.partition(":")
            found.append(JsonlMatch(session_id, head, tail if sep else session_id, file_name))
        return found

    def forget(self, directory: str, file: str) -> None:
        """Drop the row of a session file (readable or not) that was just deleted, and let a
        file that was left out as its duplicate be read again."""
        self.forget_many([(directory, file)])

    def forget_many(self, files: list[tuple[str, str]]) -> None:
        """`forget` for many (directory, file) pairs, in one transaction."""
        by_dir: dict[str, list[str]] = {}
        for directory, file in files:
            by_dir.setdefault(directory, []).append(file)

        def drop():
            from indexer.index.transactions import write_transaction

            with write_transaction(self.conn):
                refresher = self._refresher()
                for directory, names in by_dir.items():
                    self.conn.execute(
                        "UPDATE dirs SET digest = NULL, generation = generation + 1 WHERE dir = ?",
                        (directory,),
                    )
                    refresher.forget_files(directory, names)

        self._repaired(drop)

    def ids_by_name(self, names: list[str]) -> dict[str, list[str]]:
        """name -> the ids of the listed sessions, and of unreadable MoFA files, with that
        session part."""
        found: dict[str, list[str]] = {}
        wanted = set(names)
        if not wanted:
            return found
        for session_id, name in self._all("SELECT session_id, name FROM sessions"):
            if name in wanted:
                found.setdefault(name, []).append(session_id)
        for name in wanted:
            for match in self.unreadable_jsonl_matches(None, name):
                found.setdefault(name, []).append(match.session_id)
        return found

    def meta(self, key: str) -> str | None:
        rows = self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def count(self, table: str = "sessions") -> int:
        return self._all(f"SELECT count(*) FROM {table}")[0][0]


def open_session_index(root: str, path: str, notice: Callable[[str], None]) -> SessionIndex:
    """The index at `path`, or an index in memory (with a notice) when no file can be kept."""
    try:
        return SessionIndex(root, path, notice)
    except Exception as error:
        if not isinstance(error, IndexUnavailable):
            raise
        notice(f"{error}; answering from the session files without a saved index")
        return SessionIndex(root, MEMORY, notice)
