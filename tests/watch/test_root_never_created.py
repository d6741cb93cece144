"""mofa-indexd never creates its sessions root: a root missing at start is an error, and one
removed while watched is waited for, never re-created and never emptied from the index."""

from __future__ import annotations

import os
import signal
import subprocess

from indexer.watch.lock import watcher_record
from tests.daemon_helpers import RunningDaemon, index_rows, wait_until
from tests.helpers import BIN, listed_ids, run, write_session


def test_a_root_that_does_not_exist_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "typo"
    index = tmp_path / "index" / "typo.sqlite3"
    done = subprocess.run(
        [str(BIN / "mofa-indexd"), "--sessions-dir", str(missing), "--index", str(index)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "does not exist" in lines[0], lines
    assert not missing.exists()
    assert not index.parent.exists()  # no index (nor its directory) for a root that is not there


def test_a_root_that_is_a_file_is_an_error(tmp_path):
    not_a_directory = tmp_path / "sessions.txt"
    not_a_directory.write_text("")
    done = subprocess.run(
        [str(BIN / "mofa-indexd"), "--sessions-dir", str(not_a_directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr


def test_a_root_moved_away_is_waited_for_and_never_recreated(root, tmp_path, index_path):
    for number in range(3):
        write_session(root, "a", f"s{number}", created_at=f"2024-02-28T10:00:0{number}Z")
    running = RunningDaemon(root, index_path)
    try:
        running.wait_for_log("watching")
        assert len(index_rows(index_path)) == 3
        os.rename(root, tmp_path / "away")
        running.wait_for_log("re-attaching")
        assert wait_until(
            lambda: (
                (watcher_record(index_path) or None)
                and watcher_record(index_path).state == "detached"
            )
        )
        wait_until(lambda: root.exists(), timeout=2)  # a few of the watcher's looks at its root
        assert not root.exists()
        assert running.process.poll() is None
        assert len(index_rows(index_path)) == 3  # not emptied as if the sessions were deleted
        os.rename(tmp_path / "away", root)
        running.wait_for_count("watching", 2)
        write_session(root, "a", "later", created_at="2025-01-01T00:00:00Z")
        result = run("-v", "session", "list", "-f", "json")
        assert listed_ids(result) == ["a:s0", "a:s1", "a:s2", "a:later"]
    finally:
        assert running.stop(signal.SIGTERM) == 0, running.drain()
