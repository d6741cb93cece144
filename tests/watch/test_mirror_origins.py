"""One origin, one root: `mofa-indexd --sync-to` refuses a second root under an origin that
another root mirrors (it would delete that root's sessions), and never trusts its memory of
the database: rows deleted there behind its back are sent again."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.daemon_helpers import RunningDaemon
from tests.helpers import message, write_session
from tests.watch.test_mirror import in_database, start_watcher, stop_all, wait_equal

pytest.importorskip("psycopg")


def default_origin_watcher(tmp_path: Path, root: Path, url: str, name: str) -> RunningDaemon:
    root.mkdir(exist_ok=True)
    return RunningDaemon(root, tmp_path / f"index-{name}.db", ["--sync-to", url])


def test_a_second_root_under_the_default_origin_is_refused_naming_the_first(tmp_path, pg_url):
    host = socket.gethostname()
    first, second = tmp_path / "first", tmp_path / "second"
    daemons = [default_origin_watcher(tmp_path, first, pg_url, "first")]
    try:
        write_session(first, "agent", "kept", [message("user", "on the first root")])
        wait_equal(pg_url, {host: first})
        write_session(second, "agent", "other", [message("user", "on the second root")])
        daemons.append(default_origin_watcher(tmp_path, second, pg_url, "second"))
        assert daemons[-1].process.wait(timeout=60) == 1
        log = daemons[-1].drain()
        assert str(first.resolve()) in log and "--origin" in log, log
        # The first root's sessions are all still there, and still follow their files.
        assert set(in_database(pg_url)) == {(host, "agent:kept")}
        write_session(first, "agent", "new", [message("user", "later")])
        wait_equal(pg_url, {host: first})
        # Given an origin of its own, the second root is mirrored beside the first.
        daemons.append(start_watcher(tmp_path, second, pg_url, "second-root"))
        wait_equal(pg_url, {host: first, "second-root": second})
    finally:
        stop_all(daemons)


def test_an_explicit_origin_of_another_root_is_refused(tmp_path, pg_url):
    daemons = [start_watcher(tmp_path, tmp_path / "a", pg_url, "shared")]
    try:
        write_session(tmp_path / "a", "agent", "one", [message("user", "x")])
        wait_equal(pg_url, {"shared": tmp_path / "a"})
        (tmp_path / "b").mkdir()
        daemons.append(
            RunningDaemon(
                tmp_path / "b", tmp_path / "index-b.db", ["--sync-to", pg_url, "--origin", "shared"]
            )
        )
        assert daemons[-1].process.wait(timeout=60) == 1
        assert str((tmp_path / "a").resolve()) in daemons[-1].drain()
        assert set(in_database(pg_url)) == {("shared", "agent:one")}
    finally:
        stop_all(daemons)


def test_a_root_moved_away_gives_its_origin_to_the_root_that_follows(tmp_path, pg_url):
    before, after = tmp_path / "before", tmp_path / "after"
    daemons = [start_watcher(tmp_path, before, pg_url, "laptop")]
    try:
        write_session(before, "agent", "one", [message("user", "x")])
        write_session(before, "agent", "two", [message("user", "y")])
        wait_equal(pg_url, {"laptop": before})
        stop_all(daemons)
        before.rename(after)
        (after / "agent" / "two.json").unlink()
        daemons.append(start_watcher(tmp_path, after, pg_url, "laptop"))
        wait_equal(pg_url, {"laptop": after})
    finally:
        stop_all(daemons)


def test_rows_deleted_in_the_database_are_sent_again(tmp_path, pg_url):
    import psycopg

    root = tmp_path / "host"
    daemons = [start_watcher(tmp_path, root, pg_url, "hostA")]
    try:
        for number in range(5):
            write_session(
                root,
                "agent",
                f"s{number}",
                [message("user", f"hello {number}"), message("assistant", "hi")],
            )
        wait_equal(pg_url, {"hostA": root})
        daemons[0].wait_for_log("reconciled with")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DELETE FROM mofa_sessions WHERE session_id IN ('agent:s0', 'agent:s1')")
            conn.execute("DELETE FROM mofa_messages WHERE session_id = 'agent:s2' AND position = 1")
        wait_equal(pg_url, {"hostA": root})
        # And a change to a session the database lost is sent whole.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DELETE FROM mofa_sessions WHERE session_id = 'agent:s3'")
        write_session(root, "agent", "s3", [message("user", "changed")])
        wait_equal(pg_url, {"hostA": root})
    finally:
        stop_all(daemons)
