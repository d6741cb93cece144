"""The session store backed by the index: listing and MoFA id look-ups answered by SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mofa.session import SessionSummary
from mofa.store import FileSessionStore, SessionRef

if TYPE_CHECKING:
    from indexer.index import SessionIndex


class IndexedSessionStore(FileSessionStore):
    """FileSessionStore whose listings come from the index, refreshed first."""

    def __init__(self, root: str, open_index, progress=None, warn=None, debug=None):
        super().__init__(root)
        self.debug = debug
        self._open_index = open_index
        self._index: "SessionIndex | None" = None
        self.progress = progress
        self.warn = warn
        self._jsonl_fresh = False

    @property
    def index(self) -> "SessionIndex":
        """Opened on first use: `show` of a per-agent session needs no index at all."""
        if self._index is None:
            self._index = self._open_index()
        return self._index

    def _report(self, warnings) -> None:
        if self.warn:
            for warning in warnings:
                self.warn(warning)

    def refresh(self, agent: str | None = None) -> None:
        """Bring the index up to date for `agent` (or all): through a running mofa-indexd's
        handshake when it answers, else by stat-ing the files."""
        if not self._confirmed_by_watcher():
            result = self.index.refresh(agent, self.progress)
            self._report(result.warnings)
        self._jsonl_fresh = True
        self._report(self.index.bad_files(agent))

    def _confirmed_by_watcher(self) -> bool:
        from indexer.handshake import confirm_index
        from indexer.lock import running_pid

        if self.index.in_memory or running_pid(self.index.path) is None:
            return False
        waited = confirm_index(self.root, self.index)
        if self.debug:
            self.debug("mofa-indexd confirmed the index in %.1f ms" % (waited * 1000) if waited is not None
                       else "mofa-indexd did not answer in time; refreshing from the files")
        return waited is not None

    def list_rows(self, agent: str | None = None, limit: int | None = None):
        """(session_id, created_at, message_count, status) tuples, oldest first."""
        self.refresh(agent)
        return self.index.list_rows(agent, limit)

    def list_summaries(self, agent=None, limit=None):
        from indexer.index import SUMMARY_COLUMNS

        self.refresh(agent)
        return [SessionSummary(*row) for row in self.index.list_rows(agent, limit, SUMMARY_COLUMNS)]

    def jsonl_refs(self, full_id=None, name=None) -> list[SessionRef]:
        if not self._jsonl_fresh:
            if not self._confirmed_by_watcher():
                self._report(self.index.refresh_dirs([""], self.progress).warnings)
            self._jsonl_fresh = True
        return [self.jsonl_ref(*row) for row in self.index.jsonl_matches(full_id, name)]

    def delete(self, ref: SessionRef) -> None:
        super().delete(ref)
        self.index.forget(ref.path)

