"""The files store kept in step with a SQLite index: listings and id look-ups answered by the
index, refreshed first (through mofa-indexd's handshake, or by stat-ing the files)."""

from __future__ import annotations

import builtins
import contextlib
import os
from typing import TYPE_CHECKING

from indexer.index.location import MEMORY, resolve_index_path, root_lock_path
from indexer.watch.lock import STARTING, running_pid, watcher_record
from mofa.errors import AmbiguousSessionId, MofaError
from mofa.plurals import counted
from mofa.stores.base import ALL, Progress, SessionFilter, SessionRef, SessionStore, Warn
from mofa.stores.files import FileHandle, FileSessionStore

if TYPE_CHECKING:
    from indexer.index.session_index import SessionIndex
    from mofa.session import Session
    from mofa.stores.files import FileVersion
    from mofa.stores.queries import QueryResult
    from mofa.stores.results import CachedIndex, SearchHit, UpkeepResult, VerifyReport

AUTOSTART_MIN_FILES = 20_000  # README "Performance": where a watcher pays (~60 ms of stats here)


def _autostart_min_files() -> float:
    """Session files a stat refresh must cover for the command to start mofa-indexd (inf: never)."""
    environ = os.environ
    if environ.get("MOFA_AUTOSTART", "1") == "0":
        return float("inf")
    try:
        least = int(environ.get("MOFA_AUTOSTART_MIN_FILES") or AUTOSTART_MIN_FILES)
    except ValueError:
        least = AUTOSTART_MIN_FILES
    return least if least > 0 else AUTOSTART_MIN_FILES


class IndexedSessionStore(SessionStore):
    """The files under `root`, read and written by a FileSessionStore (`files`), with listings
    and MoFA look-ups answered by the index at `index_path`."""

    kind = "files"

    def __init__(
        self,
        root: str,
        index_path: str | None = None,
        warn: Warn | None = None,
        notice: Warn | None = None,
        progress=None,
        debug: Warn | None = None,
        status: Warn | None = None,
    ):

        self.root = root
        self.warn = warn
        self.files = FileSessionStore(root, warn, claims=self)
        self.index_path = (
            index_path if index_path == MEMORY else resolve_index_path(root, index_path)
        )
        self.notice = notice
        self.debug = debug
        self.status_line = status
        self._progress = progress
        self._index: SessionIndex | None = None
        self._jsonl_fresh = False
        # A watcher's handshake vouches for every change made before this command started:
        # asked once per command, then only the command's own writes are indexed by it.
        self._watcher_confirmed = False
        self._own_writes: dict[str, set[str]] = {}
        self._one_look = False  # resolve_many: one refresh answers every look-up

    @property
    def index(self) -> SessionIndex:
        """Opened on first use: `show` of a per-agent session needs no index at all."""
        if self._index is None:
            from indexer.index.session_index import open_session_index

            self._index = open_session_index(
                self.root, self.index_path, self.notice or (lambda text: None)
            )
        return self._index

    def progress(self, label: str) -> Progress | None:
        return self._progress(label) if self._progress else None

    def close(self) -> None:
        """Close the index connection, if it was opened."""
        index, self._index = self._index, None
        if index is not None:
            index.close()

    def _report(self, warnings) -> None:
        if self.warn:
            for warning in warnings:
                self.warn(warning)

    # -- freshness -------------------------------------------------------------------------
    def refresh(self, agent: str | None = None) -> None:
        """Bring the index up to date for `agent` (or all): through a running mofa-indexd's
        handshake when it answers, else by stat-ing the files."""
        if not self._fresh_through_watcher(None):
            result = self.index.refresh(agent, self.progress("Indexing sessions"))
            self._report(result.warnings)
            if result.files >= _autostart_min_files():
                self._start_watcher(result.files)
        self._jsonl_fresh = True
        self._report(self.index.bad_files(agent))

    def _start_watcher(self, files: int) -> None:
        """Auto-start (indexer/watch/autostart.py): this command stat-ed a big root; a watcher makes
        every later one take the handshake path."""

        if (
            self.index.in_memory
            or running_pid(self.index.path) is not None
            or running_pid(root_lock_path(self.root)) is not None
        ):
            # One watcher per root: one runs already (it did not answer, or writes another index).
            return
        from indexer.watch.autostart import idle_seconds, log_path, start

        try:
            pid = start(self.root, self.index.path)
        except OSError as error:
            if self.debug:
                self.debug(f"could not start mofa-indexd: {error.strerror or error}")
            return
        if self.status_line:
            self.status_line(
                f"→ Started mofa-indexd for {self.root} (pid {pid}): later commands answer"
                " through it (MOFA_AUTOSTART=0 turns this off)"
            )
        if self.debug:
            self.debug(
                f"stat-ed {counted(files, 'session file')};"
                f" mofa-indexd logs to {log_path(self.index.path)}"
                f" and exits after {idle_seconds():g} s without commands"
            )

    def _fresh_through_watcher(self, directory: str | None) -> bool:
        """Whether the index is fresh for `directory` (None: every one) through the watcher:
        its handshake once, then the files this command wrote since (the watcher may not have
        applied them yet) indexed here."""
        if not self._watcher_confirmed:
            self._watcher_confirmed = self._confirmed_by_watcher()
            return self._watcher_confirmed
        directories = list(self._own_writes) if directory is None else [directory]
        for written in directories:
            names = self._own_writes.pop(written, None)
            if names:
                self.index.refresh_files(written, sorted(names))
        return True

    def wrote(self, directory: str, file: str) -> None:
        """The files store wrote this file: indexed by this command itself after the handshake."""
        if self._watcher_confirmed:  # before the handshake, the handshake covers it
            self._own_writes.setdefault(directory, set()).add(file)

    def _confirmed_by_watcher(self) -> bool:

        if self.index_path == MEMORY or running_pid(self.index_path) is None:
            return False
        from indexer.watch.handshake import answer, ask, confirm_index

        record = watcher_record(self.index_path)
        if record is not None and record.state == STARTING:
            if self.debug:
                self.debug("mofa-indexd is catching up with the root; refreshing from the files")
            return False
        # Asked before the index is opened, where the watcher's record names the epoch of its
        # index: the watcher answers while this command imports SQLite and opens the index.
        question = ask(self.root, self.index_path, record) if self._index is None else None
        if question is not None:
            waited = answer(question, self.index)
        elif self.index.in_memory:
            return False
        else:
            waited = confirm_index(self.root, self.index)
        if self.debug:
            self.debug(
                "mofa-indexd confirmed the index in %.1f ms" % (waited * 1000)
                if waited is not None
                else "mofa-indexd did not answer in time; refreshing from the files"
            )
        return waited is not None

    # -- reading ---------------------------------------------------------------------------
    def list(self, wanted: SessionFilter = ALL, wide: bool = False):
        """Rows of the index, oldest first; streamed."""
        self.refresh(wanted.agent)
        return self.index.list_rows(wanted, wide)

    def resolve(self, text: str) -> SessionRef:
        return self.files.resolve(text)

    def resolve_saved(self, session_id: str) -> SessionRef:
        return self.files.resolve_saved(session_id)

    def load(self, ref: SessionRef) -> Session:
        return self.files.load(ref)

    def load_version(self, ref: SessionRef) -> tuple[Session, FileVersion]:
        return self.files.load_version(ref)

    def path_of(self, handle: FileHandle) -> str:
        return self.files.path_of(handle)

    # -- the files store's look-ups of MoFA files (JsonlClaims), answered by the index -------
    def look_again(self) -> None:
        if not self._one_look:
            self._jsonl_fresh = False

    def jsonl_refs(
        self, full_id: str | None = None, name: str | None = None
    ) -> builtins.list[SessionRef]:
        from mofa.session import JSONL_LAYOUT

        self._refresh_jsonl()
        return [
            SessionRef(
                match.session_id, match.agent, match.name, FileHandle(JSONL_LAYOUT, "", match.file)
            )
            for match in self.index.jsonl_matches(full_id, name)
            + self.index.unreadable_jsonl_matches(full_id, name)
        ]

    def _refresh_jsonl(self) -> None:
        if not self._jsonl_fresh:
            if not self._fresh_through_watcher(""):
                self._report(
                    self.index.refresh_dirs([""], self.progress("Indexing sessions")).warnings
                )
            self._jsonl_fresh = True

    def index_location(self) -> str | None:
        return self.index_path

    def stop_watcher(self) -> int | None:
        from indexer.index.catalog import stop_watcher

        return stop_watcher(self.root, self.index_path)

    def cached_indexes(self) -> builtins.list[CachedIndex]:
        from indexer.index.catalog import cached_indexes

        return cached_indexes()

    def clean_indexes(self) -> builtins.list[CachedIndex]:
        from indexer.index.catalog import cached_indexes, remove_cached_index

        gone = [
            entry for entry in cached_indexes() if entry.root is not None and not entry.root_exists
        ]
        for entry in gone:
            remove_cached_index(entry)
        return [entry for entry in gone if not os.path.exists(entry.path)]

    def search(
        self, query: str, wanted: SessionFilter = ALL, role: str | None = None
    ) -> builtins.list[SearchHit]:
        from indexer.index.search import STALE_TRIES, SearchFilter, parse_query, search_page
        from mofa.stores.results import SearchHit

        parse_query(query)  # a query it cannot take is refused before any work
        if self.index.in_memory:  # no index file can be kept (or no root yet): read the files
            return self.files.search(query, wanted, role)
        self.refresh(wanted.agent)
        where = SearchFilter(wanted.agent, role, wanted.since, wanted.until, wanted.limit)
        for _ in range(STALE_TRIES):
            self._search_data_current()
            page = search_page(self.index.conn, query, where, self.root)
            if not page.stale:
                break
            # A hit's file changed or went since it was indexed: never shown from stale data.
            # Its row and search data are brought up to date, and the page searched again.
            by_dir: dict[str, list[str]] = {}
            for directory, file in page.stale:
                by_dir.setdefault(directory, []).append(file)
            for directory, files in by_dir.items():
                self.index.refresh_files(directory, files)
        return [
            SearchHit(
                hit.session_id, hit.agent, hit.created_at, hit.matches, hit.snippet, hit.message
            )
            for hit in page.hits
        ]

    def _search_data_current(self) -> None:
        """Bring the search data in line with the (refreshed) index. While the watcher builds
        it, wait for its build (its progress on a terminal), then read what is left."""
        from indexer.build.refresh import FileParser
        from indexer.index.search import ensure_search
        from indexer.index.search_build import wait_for_build

        conn = self.index.conn
        if not self.index.in_memory:
            wait_for_build(
                conn,
                lambda: running_pid(self.index_path),
                self.progress("Building the search index (mofa-indexd)"),
            )
        # Started only for a long catch-up; a CPU spared for this process, which writes meanwhile.
        with FileParser(self.root, spare=1) as readers:
            ensure_search(
                conn, self.root, self.progress("Building the search index"), readers=readers
            )

    def suggest_ids(self, text: str) -> builtins.list[str]:
        from mofa.suggestions import close_matches

        self.refresh()
        return close_matches(text, self.index.select("SELECT session_id, name FROM sessions"))

    def suggest_agents(self, agent: str) -> builtins.list[str]:
        from mofa.suggestions import close_matches

        self.refresh()
        agents = [name for (name,) in self.index.select("SELECT DISTINCT agent FROM sessions")]
        return [] if agent in agents else close_matches(agent, ((name,) for name in agents))

    def complete_ids(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        from indexer.index.query import distinct_values

        ids = distinct_values(self.index_path, self.root, "session_id", prefix, limit)
        if ":" not in prefix:
            ids += distinct_values(self.index_path, self.root, "name", prefix, limit)
        return sorted(set(ids))[:limit]

    def complete_agents(self, prefix: str, limit: int = 200) -> builtins.list[str]:
        from indexer.index.query import distinct_values

        return distinct_values(self.index_path, self.root, "agent", prefix, limit)

    def resolve_many(self, texts: builtins.list[str]) -> builtins.list:
        """One refresh for all of them, then the index answers: thousands of ids cost one
        scan, not one each."""
        self.refresh()
        return self._resolve_refreshed(texts)

    def resolve_rows(self, rows: builtins.list) -> builtins.list:
        """Rows of this store's `list`, which refreshed the index moments ago: looked up in it
        without another refresh (or handshake with the watcher)."""
        return self._resolve_refreshed([row.session_id for row in rows])

    def _resolve_refreshed(self, texts: builtins.list[str]) -> builtins.list:
        by_name = self.index.ids_by_name([text for text in texts if ":" not in text])
        outcomes: list = []
        self._one_look = True
        try:
            for text in texts:
                try:
                    if ":" in text:
                        outcomes.append(self.files.resolve(text))
                    else:
                        outcomes.append(self._resolve_short_from(text, by_name.get(text, [])))
                except MofaError as error:
                    outcomes.append(error)
        finally:
            self._one_look = False
        return outcomes

    def _resolve_short_from(self, text: str, session_ids: builtins.list[str]) -> SessionRef:
        if text in session_ids or not session_ids:  # a MoFA key names itself, verbatim
            return self.files.resolve(text)
        if len(session_ids) > 1:
            raise AmbiguousSessionId(text, sorted(session_ids))
        return self.files.resolve(session_ids[0])

    # -- writing ---------------------------------------------------------------------------
    def saving_many(self) -> contextlib.AbstractContextManager[None]:
        return self.files.saving_many()

    def save(self, session_id: str, document: dict, replace: bool = False) -> SessionRef:
        return self.files.save(session_id, document, replace)

    def append(self, ref: SessionRef, message: dict) -> None:
        self.files.append(ref, message)

    def delete(self, ref: SessionRef) -> None:
        self.files.delete(ref)
        handle = ref.handle
        self.index.forget(handle.directory, handle.file)

    def delete_unchanged(self, ref: SessionRef, version: object) -> None:
        self.files.delete_unchanged(ref, version)
        handle = ref.handle
        self.index.forget(handle.directory, handle.file)

    def delete_many(
        self, refs: builtins.list[SessionRef], versions: builtins.list | None = None
    ) -> builtins.list:
        """Every file first, then their rows in one transaction."""

        outcomes: list = []
        gone = []
        for ref, version in zip(refs, versions or [None] * len(refs), strict=True):
            try:
                if version is None:
                    self.files.delete(ref)
                else:
                    self.files.delete_unchanged(ref, version)
            except MofaError as error:
                outcomes.append(error)
            else:
                outcomes.append(None)
                gone.append((ref.handle.directory, ref.handle.file))
        if gone:
            self.index.forget_many(gone)
        return outcomes

    # -- upkeep ----------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        from indexer.index.status import index_status

        return {"store": self.kind, **index_status(self.index, self.root, self.index_path)}

    def rebuild(self, progress: Progress | None = None) -> UpkeepResult:
        from mofa.stores.results import UpkeepResult

        result = self.index.rebuild(progress)
        return UpkeepResult(
            self.index.count(),
            self.index.count("bad_files"),
            result.warnings + self.index.bad_files(),
        )

    def verify(self, progress: Progress | None = None) -> VerifyReport:
        from indexer.index.verify import verify

        return verify(self.index, self.root, progress)

    def query(self, sql: str, timeout: float | None) -> QueryResult:
        from indexer.index.query import mentions_messages, run_query
        from mofa.stores.queries import QueryResult

        self.refresh()
        index = self.index
        if mentions_messages(sql):  # its data is the search data's: built the first time
            self._search_data_current()
        # An index kept in memory (no writable cache, no root yet) is queried as it is.
        rows = run_query(self.index_path, sql, timeout, index.conn if index.in_memory else None)
        return QueryResult(rows.columns, iter(rows), rows.close)
