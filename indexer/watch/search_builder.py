"""mofa-indexd's search data: built in the background once the watcher has reconciled, then
kept current after each batch of changes, so that a search has little or nothing to read.

A thread with its own connection to the watcher's index: the watcher's loop goes on applying
changes and answering handshakes meanwhile. SQLite allows one writer at a time: the build
writes one batch of sessions per transaction (indexer.index.search.SEARCH_BATCH), so a write
of the watcher, or of a command, waits for at most one batch.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from indexer.build.refresh import FileParser
from indexer.index.database import epoch, open_index
from indexer.index.search import SEARCH_BATCH, ensure_search
from indexer.index.search_build import SearchBuild, note_build, queued_sessions
from indexer.watch.handshake import file_identity
from mofa.plurals import counted

log = logging.getLogger("mofa-indexd")


class _Stopped(Exception):
    """Raised between two batches of a build when the watcher stops."""


class SearchBuilder:
    """Builds and keeps current the search data of the index the watcher has open: the file
    at `index_path` whose identity is `identity` and epoch `epoch`, and no other."""

    RETRY_S = 5.0  # after a failed build: tried again then, or at the next change

    def __init__(self, root: str, index_path: str, identity, index_epoch: str | None):
        self.root = root
        self.index_path = index_path
        self.identity = identity
        self.epoch = index_epoch
        self.conn: sqlite3.Connection | None = None
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="search-builder", daemon=True)

    def start(self) -> None:
        self.wanted.set()
        self.thread.start()

    def wake(self) -> None:
        """Something may have changed: bring the search data in line with it."""
        self.wanted.set()

    def stop(self, timeout: float) -> bool:
        """Stop after the batch being written (the rest stays queued: the next build resumes
        it); False when the thread is still running after `timeout` seconds."""
        self.stopping.set()
        self.wanted.set()
        conn = self.conn
        if conn is not None:
            conn.interrupt()  # a wait for the write lock, or a long statement, ends now
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.conn = open_index(self.index_path, self.root)
            if epoch(self.conn) != self.epoch or file_identity(self.index_path) != self.identity:
                return  # no longer the watcher's index: the watcher opens the new one
        except Exception as error:
            log.error("cannot open the index to build its search data: %s", error)
            return
        retry: float | None = None
        while not self.stopping.is_set():
            self.wanted.wait(retry)
            if self.stopping.is_set():
                return
            self.wanted.clear()
            try:
                self._build(self.conn)
                retry = None
            except _Stopped:
                return
            except Exception as error:  # whatever it is, keep watching; try again later
                if self.stopping.is_set():
                    return
                retry = self.RETRY_S
                log.error(
                    "could not build the search data (%s); trying again in %g s", error, retry
                )

    def _build(self, conn: sqlite3.Connection) -> None:
        queued = queued_sessions(conn)
        if queued is None:  # no search data yet: every session is to be read
            queued = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        # A build of more than one batch says how far it is; keeping current (a few sessions
        # after a batch of changes) writes nothing more than the search data itself.
        long = queued > SEARCH_BATCH
        pid = os.getpid()
        if long:
            note_build(conn, SearchBuild(pid, 0, queued))
            log.info("building the search data: %s to read", counted(queued, "session", spec=","))
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            if self.stopping.is_set():
                raise _Stopped
            if long and done < total:
                note_build(conn, SearchBuild(pid, done, total))

        # Started only for a long catch-up; a CPU spared for this process, which writes meanwhile.
        with FileParser(self.root, spare=1) as readers:
            read = ensure_search(conn, self.root, progress, readers=readers)
        if long:
            note_build(conn, None)
            log.info(
                "built the search data: %s read in %.2f s",
                counted(read, "session", spec=","),
                time.monotonic() - started,
            )
        elif read:
            log.debug("search data: %s read", counted(read, "session"))
