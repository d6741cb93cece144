"""The search data's state as `index status` reports it, and a search's wait for the watcher's
build, on a real index: the progress row written from another connection, as mofa-indexd does."""

import os
import sqlite3
import threading

import pytest

import indexer.build.refresh
from indexer.index import search_build
from indexer.index.search import ensure_search
from indexer.index.search_build import (
    SearchBuild,
    SearchState,
    note_build,
    running_build,
    search_state,
    wait_for_build,
)
from indexer.index.session_index import SessionIndex
from tests.helpers import message, write_session

WATCHER = 4242  # the pid a build row names, and the one "running" when the test says so


@pytest.fixture
def index(root, tmp_path, monkeypatch):
    # Files just written are re-read by each refresh ('racily clean'): not here, so that the
    # search queue holds exactly what changed.
    monkeypatch.setattr(indexer.build.refresh, "RACY_NS", 0)
    for number in range(3):
        write_session(root, "a", f"s{number}", [message("user", f"word{number}")])
    opened = SessionIndex(str(root), str(tmp_path / "index.db"))
    opened.refresh(None)
    yield opened
    opened.close()


@pytest.fixture
def watcher_conn(index, tmp_path):
    """A second connection to the index, as the watcher's builder has."""
    conn = sqlite3.connect(str(tmp_path / "index.db"), timeout=30, isolation_level=None)
    yield conn
    conn.close()


def test_the_states_none_behind_current_and_building(index, root, watcher_conn):
    conn = index.conn
    assert search_state(conn, None) == SearchState("none")
    ensure_search(conn, str(root))
    assert search_state(conn, None) == SearchState("current")
    write_session(root, "a", "s9", [message("user", "late")])
    index.refresh(None)
    assert search_state(conn, None) == SearchState("behind", sessions_queued=1)
    note_build(watcher_conn, SearchBuild(WATCHER, 1024, 4000))
    assert search_state(conn, WATCHER) == SearchState("building", 1024, 4000)
    # A row the running watcher did not write (one stopped mid-build left it): not a build.
    assert search_state(conn, None) == SearchState("behind", sessions_queued=1)
    assert search_state(conn, WATCHER + 1) == SearchState("behind", sessions_queued=1)
    note_build(watcher_conn, None)
    assert running_build(conn, WATCHER) is None


@pytest.mark.parametrize("value", ["", "12", "a b c", "1 2 3 4"])
def test_a_build_row_not_of_this_program_is_no_build(index, watcher_conn, value):
    watcher_conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('search_build', ?)", (value,)
    )
    assert running_build(index.conn, WATCHER) is None


def test_a_search_waits_for_the_watchers_build_and_follows_it(index, watcher_conn, tmp_path):
    note_build(watcher_conn, SearchBuild(WATCHER, 0, 3000))
    seen: list[tuple[int, int]] = []
    advanced = threading.Event()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if (done, total) == (0, 3000):
            advanced.set()

    def watcher() -> None:  # the build goes on once the search is seen waiting
        advanced.wait(30)
        conn = sqlite3.connect(str(tmp_path / "index.db"), timeout=30, isolation_level=None)
        for done in (1024, 2048):
            note_build(conn, SearchBuild(WATCHER, done, 3000))
        note_build(conn, None)
        conn.close()

    thread = threading.Thread(target=watcher)
    thread.start()
    try:
        assert wait_for_build(index.conn, lambda: WATCHER, progress)
    finally:
        thread.join(30)
    assert seen[0] == (0, 3000) and seen[-1] == (3000, 3000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_no_wait_without_a_running_watcher(index, watcher_conn):
    note_build(watcher_conn, SearchBuild(os.getpid(), 0, 3000))
    assert not wait_for_build(index.conn, lambda: None)


def test_a_build_stalled_is_waited_for_no_longer(index, watcher_conn, monkeypatch):
    monkeypatch.setattr(search_build, "STALLED_S", 0.3)
    note_build(watcher_conn, SearchBuild(WATCHER, 1024, 3000))
    seen: list[tuple[int, int]] = []
    assert wait_for_build(index.conn, lambda: WATCHER, lambda *pair: seen.append(pair))
    assert running_build(index.conn, WATCHER) == SearchBuild(WATCHER, 1024, 3000)  # still there
    assert seen[0] == (1024, 3000)
