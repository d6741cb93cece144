"""How far the search data is: built, being built by mofa-indexd, or behind the listing.

mofa-indexd builds the search data in the background (indexer.watch.search_builder); while a
build has more than one batch to do, it records how far it is in the `meta` row
'search_build' ("<pid> <done> <total>"), which `index status` shows and a `search` waits on.
The row counts only while the process it names runs the index's watcher: one left by a
watcher that was stopped mid-build is ignored (the next build resumes from search_pending).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

from indexer.index.search import search_exists
from indexer.index.transactions import write_transaction

BUILD_KEY = "search_build"
STALLED_S = 30.0  # a build that records no progress this long is no longer waited for
POLL_S = 0.1


class SearchBuild(NamedTuple):
    """A build in progress: the watcher's pid, and sessions read of those to read."""

    pid: int
    done: int
    total: int


class SearchState(NamedTuple):
    """What `index status` says of the search data. `state`: "none" (not built: the first
    search builds it, or the watcher), "building" (the watcher is building it: `sessions_done`
    of `sessions_total` read), "behind" (`sessions_queued` changed sessions not read yet: the
    next search, or the watcher, reads them) or "current"."""

    state: str
    sessions_done: int | None = None
    sessions_total: int | None = None
    sessions_queued: int | None = None


def note_build(conn: sqlite3.Connection, build: SearchBuild | None) -> None:
    """Record how far a build is (None: no build in progress), in its own short transaction."""
    with write_transaction(conn):
        if build is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (BUILD_KEY,))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (BUILD_KEY, f"{build.pid} {build.done} {build.total}"),
            )


def running_build(conn: sqlite3.Connection, watcher_pid: int | None) -> SearchBuild | None:
    """The build the running watcher (`watcher_pid`) records, if any."""
    if watcher_pid is None:
        return None
    rows = conn.execute("SELECT value FROM meta WHERE key = ?", (BUILD_KEY,)).fetchall()
    try:
        build = SearchBuild(*(int(part) for part in rows[0][0].split()))
    except (IndexError, TypeError, ValueError, AttributeError):
        return None  # no row, or not one this program wrote
    return build if build.pid == watcher_pid else None


def queued_sessions(conn: sqlite3.Connection) -> int | None:
    """Sessions queued for the search data (None: there is no search data)."""
    if not search_exists(conn):
        return None
    return conn.execute("SELECT count(*) FROM search_pending").fetchone()[0]


def search_state(conn: sqlite3.Connection, watcher_pid: int | None) -> SearchState:
    build = running_build(conn, watcher_pid)
    if build is not None:
        return SearchState("building", build.done, build.total)
    queued = queued_sessions(conn)
    if queued is None:
        return SearchState("none")
    if queued:
        return SearchState("behind", sessions_queued=queued)
    return SearchState("current")


def wait_for_build(
    conn: sqlite3.Connection,
    watcher_pid: Callable[[], int | None],
    progress: Callable[[int, int], None] | None = None,
) -> bool:
    """Wait while the running watcher builds the search data, reporting how far it is; True
    if there was a build to wait for. A search waits rather than reading the same files
    alongside it; it stops waiting when the build is done, the watcher stops, or the build
    records no progress for STALLED_S (the search then reads what is left itself)."""
    build = running_build(conn, watcher_pid())
    if build is None:
        return False
    seen, since = build, time.monotonic()
    while build is not None:
        if progress:
            progress(build.done, build.total)
        if build != seen:
            seen, since = build, time.monotonic()
        elif time.monotonic() - since > STALLED_S:
            break
        time.sleep(POLL_S)
        build = running_build(conn, watcher_pid())
    if progress:
        progress(seen.total, seen.total)
    return True
