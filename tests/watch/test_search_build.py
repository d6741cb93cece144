"""mofa-indexd builds the search data in the background, and keeps it current: real watchers,
real commands, the real index."""

import contextlib
import json
import os
import re
import signal
import sqlite3
import time

import pytest

from indexer.index.search import SEARCH_BATCH
from tests.daemon_helpers import RunningDaemon, wait_until
from tests.helpers import listed_ids, message, run_installed, write_session

SESSIONS = SEARCH_BATCH + 500  # a build of two batches: held after the first, it is midway
# Stopped once a batch is written, with three more to go: time enough to be held before the end.
SESSIONS_TO_STOP = 3 * SEARCH_BATCH + 200
TEXT = " ".join(["refund invoice delivery tracking customer"] * 12)
LAST = SESSIONS - 1


def write_tree(root, sessions: int = SESSIONS) -> None:
    """`sessions` sessions of 5 messages each; session n alone says `uniq<n>`."""
    for number in range(sessions):
        write_session(
            root,
            f"agent-{number % 4}",
            f"s{number:05d}",
            [message("user", f"{TEXT} uniq{number}")]
            + [message("assistant", TEXT) for _ in range(4)],
        )


def index_value(index_path, sql: str, params=()):
    try:
        conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return None  # not created yet
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return None
    finally:
        conn.close()


def build_row(index_path) -> tuple[int, int, int] | None:
    """The watcher's progress row ("<pid> <done> <total>"), if a build records one."""
    rows = index_value(index_path, "SELECT value FROM meta WHERE key = 'search_build'")
    return tuple(int(part) for part in rows[0][0].split()) if rows else None


def search_current(index_path) -> bool:
    """The search data exists and has nothing left to read."""
    built = index_value(index_path, "SELECT value FROM meta WHERE key = 'search'")
    pending = index_value(index_path, "SELECT count(*) FROM search_pending")
    return bool(built) and pending == [(0,)]


@contextlib.contextmanager
def build_held(index_path, least_done: int = 0):
    """Hold the index's write lock once the watcher's build has read `least_done` sessions:
    the build cannot write its next batch, so it is still in progress for as long as this
    lasts (what the watcher does without writing goes on). Looked at under the lock, so the
    build cannot end between the look and the hold. Yields the progress row."""
    assert wait_until(lambda: build_row(index_path) is not None, timeout=120)
    conn = sqlite3.connect(index_path, timeout=60, isolation_level=None)
    try:
        for _ in range(6000):  # bounded: 2 minutes at most
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT value FROM meta WHERE key = 'search_build'").fetchall()
            assert rows, "the build ended before it could be held (make the tree bigger)"
            row = tuple(int(part) for part in rows[0][0].split())
            if row[1] >= least_done:
                break
            conn.execute("ROLLBACK")
            time.sleep(0.02)
        assert row[1] >= least_done and row[1] < row[2]
        yield row
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def status(*extra) -> dict:
    result = run_installed("session", "index", "status", "-f", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def search_ids(*args) -> tuple[list[str], str]:
    result = run_installed("session", "search", *args, "-f", "json")
    assert result.returncode == 0, result.stderr
    return [hit["session_id"] for hit in json.loads(result.stdout)], result.stderr


@pytest.fixture
def big_root(root):
    write_tree(root)
    return root


def test_the_watcher_builds_the_search_data_by_itself(root, index_path):
    write_session(root, "a", "s1", [message("user", "the parcel was delivered")])
    write_session(root, "b", "s2", [message("user", "a refund please")])
    running = RunningDaemon(root, index_path)
    try:
        running.wait_for_log("watching")
        assert wait_until(lambda: search_current(index_path))
        assert status()["search_data"]["state"] == "current"
        ids, _ = search_ids("refund")  # read nothing: it was current already
        assert ids == ["b:s2"]
        # A write while the watcher runs is searchable at once (the handshake, then the rest).
        write_session(root, "c", "s3", [message("user", "another refund, quickly")])
        ids, _ = search_ids("refund")
        assert sorted(ids) == ["b:s2", "c:s3"]
        # ...and the watcher reads it into the search data by itself.
        write_session(root, "c", "s4", [message("user", "zeppelin")])
        assert wait_until(
            lambda: (
                index_value(
                    index_path,
                    "SELECT count(*) FROM search_sessions WHERE session_id = 'c:s4'",
                )
                == [(1,)]
                and search_current(index_path)
            )
        )
    finally:
        assert running.stop() == 0, running.drain()


def test_status_shows_building_then_current_and_handshakes_are_answered(big_root, index_path):
    running = RunningDaemon(big_root, index_path)
    try:
        with build_held(index_path) as (pid, done, total):
            assert pid == running.process.pid and total == SESSIONS
            report = status()
            assert report["search_data"] == {
                "state": "building",
                "sessions_done": done,
                "sessions_total": total,
                "sessions_queued": None,
            }
            table = run_installed("session", "index", "status").stdout
            assert re.search(
                rf"^search data: +building, {done:,} of {total:,} sessions$", table, re.M
            )
            # The build is in progress (held mid-way): a listing is confirmed by the watcher.
            result = run_installed("-v", "session", "list", "-n", "1", "-f", "json")
            assert result.returncode == 0, result.stderr
            assert "mofa-indexd confirmed the index" in result.stderr
            assert len(listed_ids(result)) == 1
            assert build_row(index_path) == (pid, done, total)  # still the same batch
        running.wait_for_log("built the search data", timeout=120)
        assert wait_until(lambda: search_current(index_path))
        assert status()["search_data"]["state"] == "current"
        table = run_installed("session", "index", "status").stdout
        assert re.search(r"^search data: +current$", table, re.M)
        assert build_row(index_path) is None
    finally:
        assert running.stop() == 0, running.drain()


def test_a_search_during_the_build_is_exact(big_root, index_path):
    running = RunningDaemon(big_root, index_path)
    try:
        with build_held(index_path):
            write_session(big_root, "late", "s", [message("user", "uniqlate arrives")])
        # The build goes on; the search waits for it, then reads what is left.
        ids, _ = search_ids("uniqlate")
        assert ids == ["late:s"]
        ids, _ = search_ids(f"uniq{LAST}")
        assert ids == [f"agent-{LAST % 4}:s{LAST:05d}"]
        ids, _ = search_ids("refund", "-n", "100000")
        assert len(ids) == SESSIONS
        running.wait_for_log("built the search data", timeout=120)
        assert wait_until(lambda: search_current(index_path))
        log = running.drain()
        assert log.count("building the search data") == 1  # neither restarted nor broken
        assert "could not" not in log
    finally:
        assert running.stop() == 0, running.drain()
    assert run_installed("session", "index", "verify").returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_mid_build_exits_0_and_the_next_start_resumes(root, index_path, sig):
    write_tree(root, SESSIONS_TO_STOP)
    running = RunningDaemon(root, index_path)
    try:
        with build_held(index_path, least_done=1):
            # Stopped while its build waits for the write lock: it lets go and exits 0.
            assert running.stop(sig) == 0, running.drain()
    finally:
        if running.process.poll() is None:
            running.stop()
    assert "stopped" in running.drain()
    pending = index_value(index_path, "SELECT count(*) FROM search_pending")[0][0]
    assert 0 < pending <= SESSIONS_TO_STOP - SEARCH_BATCH  # at least a batch read, and kept
    assert status()["search_data"] == {
        "state": "behind",
        "sessions_done": None,
        "sessions_total": None,
        "sessions_queued": pending,
    }
    assert run_installed("session", "index", "verify").returncode == 0
    again = RunningDaemon(root, index_path)
    try:
        # Resumed, not started over: it reads what was left, and nothing else.
        again.wait_for_log(f"{pending:,} sessions read", timeout=120)
        assert wait_until(lambda: search_current(index_path))
    finally:
        assert again.stop() == 0, again.drain()
    ids, _ = search_ids("uniq0")
    assert ids == ["agent-0:s00000"]


def test_no_search_leaves_the_search_data_to_the_first_search(root, index_path):
    write_tree(root, 1100)  # more than one batch: a build would say so in the log
    running = RunningDaemon(root, index_path, ["--no-search"])
    try:
        running.wait_for_log("watching")
        result = run_installed("-v", "session", "list", "-n", "1", "-f", "json")
        assert "mofa-indexd confirmed the index" in result.stderr
        assert index_value(index_path, "SELECT value FROM meta WHERE key = 'search'") == []
        assert status()["search_data"]["state"] == "none"
        table = run_installed("session", "index", "status").stdout
        assert re.search(r"^search data: +not built yet", table, re.M)
        ids, _ = search_ids("uniq1099")  # the first search builds it
        assert ids == ["agent-3:s01099"]
        assert search_current(index_path)
    finally:
        assert running.stop() == 0, running.drain()
    assert "search data" not in running.drain()


def test_an_index_file_deleted_mid_build_is_let_go_of_and_built_again(root, index_path):
    """The build stops writing into a deleted index file (whose `-wal` a new file of the same
    name would take for its own) and the watcher moves to a new index at once, without waiting
    for a change in the root: its search data built, commands served from it."""
    write_tree(root, SESSIONS_TO_STOP)
    running = RunningDaemon(root, index_path)
    try:
        with build_held(index_path, least_done=1):
            os.unlink(index_path)
        running.wait_for_log("was deleted, replaced or emptied", timeout=60)
        running.wait_for_log("built the search data", timeout=120)
        assert wait_until(lambda: search_current(index_path))
        result = run_installed("-v", "session", "search", "uniq0", "-f", "json")
        assert result.returncode == 0, result.stderr
        assert [hit["session_id"] for hit in json.loads(result.stdout)] == ["agent-0:s00000"]
        assert "mofa-indexd confirmed the index" in result.stderr
        assert "error" not in result.stderr
        log = running.drain()
        assert "could not build" not in log
    finally:
        assert running.stop() == 0, running.drain()
    assert run_installed("session", "index", "verify").returncode == 0
