"""mofa-indexd with real watchdog events and the real process."""

import json
import os
import shutil
import signal
import threading

import pytest

from indexer.watch.daemon import IndexDaemon
from tests.daemon_helpers import RunningDaemon, index_rows, wait_until
from tests.helpers import listed_ids, message, run, run_installed, write_session


@pytest.fixture
def daemon(root, index_path):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    yield running
    assert running.stop() == 0, running.drain()


def has(index_path, session_id, count=None):
    rows = index_rows(index_path)
    return session_id in rows and (count is None or rows[session_id][0] == count)


def test_reconciles_at_start(root, index_path):
    write_session(root, "a", "before")
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    assert has(index_path, "a:before")
    assert running.stop() == 0


def test_follows_create_change_and_delete(daemon, root, index_path):
    path = write_session(root, "a", "s", [message("user", "x")])
    assert wait_until(lambda: has(index_path, "a:s", 1))
    daemon.wait_for_log("applied a batch: 1 file")  # -v logs every batch
    document = json.loads(path.read_text())
    document["messages"] *= 3
    with open(path, "r+") as handle:  # in place: same inode
        handle.write(json.dumps(document))
        handle.truncate()
    assert wait_until(lambda: has(index_path, "a:s", 3))
    path.unlink()
    assert wait_until(lambda: not has(index_path, "a:s"))


def test_atomic_replace_by_rename(daemon, root, index_path):
    write_session(root, "a", "s", [message("user", "x")])
    assert wait_until(lambda: has(index_path, "a:s", 1))
    temporary = root / "a" / ".s.json.tmp"
    temporary.write_text(
        json.dumps({"created_at": "2024-01-01T00:00:00Z", "messages": [message("user", "y")] * 4})
    )
    os.replace(temporary, root / "a" / "s.json")
    assert wait_until(lambda: has(index_path, "a:s", 4))
    assert set(index_rows(index_path)) == {"a:s"}


def test_agent_directory_renamed_and_removed(daemon, root, index_path):
    write_session(root, "old", "s1")
    write_session(root, "old", "s2")
    assert wait_until(lambda: has(index_path, "old:s2"))
    os.rename(root / "old", root / "new")
    assert wait_until(lambda: set(index_rows(index_path)) == {"new:s1", "new:s2"})
    shutil.rmtree(root / "new")
    assert wait_until(lambda: index_rows(index_path) == {})


def test_a_burst_into_new_directories(daemon, root, index_path):
    """3,000 files in 30 new agent directories, many written before their watch exists."""
    for agent in range(30):
        directory = root / f"agent-{agent:02d}"
        directory.mkdir()
        for number in range(100):
            (directory / f"s{number:03d}.json").write_text(
                '{"created_at": "2024-02-28T10:30:00Z", "messages": []}'
            )
    assert wait_until(lambda: len(index_rows(index_path)) == 3000, timeout=120)
    assert run("session", "index", "verify").exit_code == 0


def test_corrupt_files_are_logged_and_skipped(daemon, root, index_path):
    (root / "a").mkdir()
    (root / "a" / "bad.json").write_text("{ not json")
    daemon.wait_for_log("bad.json: invalid JSON")
    write_session(root, "a", "good")
    assert wait_until(lambda: has(index_path, "a:good"))
    assert daemon.process.poll() is None


def test_a_second_instance_refuses(daemon, root, index_path):
    result = run_installed("--sessions-dir", str(root), "--index", index_path, script="mofa-indexd")
    assert result.returncode == 1
    assert (
        f"another mofa-indexd (pid {daemon.process.pid}) already watches this root" in result.stderr
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_it_cleanly(root, index_path, sig):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    write_session(root, "a", "s")
    assert wait_until(lambda: has(index_path, "a:s"))
    assert running.stop(sig) == 0
    assert "stopped" in running.drain()
    assert run("session", "index", "verify").exit_code == 0
    assert run("session", "index", "status", "-f", "json").stdout.count('"watcher_pid": null') == 1


def test_status_shows_the_watcher(daemon):
    report = json.loads(run("session", "index", "status", "-f", "json").stdout)
    assert report["watcher_pid"] == daemon.process.pid
    assert report["watcher_caught_up_ms"] >= 0


def test_write_then_list_never_misses(daemon, root):
    """The handshake: each session written is in the very next listing, a hundred times."""
    for number in range(100):
        write_session(
            root,
            "fast",
            f"s{number:03d}",
            created_at=f"2024-02-28T10:{number // 60:02d}:{number % 60:02d}Z",
        )
        result = run("-v", "session", "list", "-a", "fast", "-n", "1", "-f", "json")
        assert listed_ids(result) == [f"fast:s{number:03d}"], result.stderr
        assert "mofa-indexd confirmed the index" in result.stderr


def test_queue_overflow_falls_back_to_a_full_reconcile(root, index_path):
    """With the kernel's inotify queue shrunk to 16 events, a burst overflows it."""
    knob = "/proc/sys/fs/inotify/max_queued_events"
    try:
        with open(knob) as handle:
            original = handle.read().strip()
        with open(knob, "w") as handle:
            handle.write(original)
    except OSError:
        pytest.skip("cannot shrink the inotify queue here (needs root)")
    if original == "16":  # left so by another run of this test that shares the machine
        original = "16384"  # the kernel's default
    # The knob is machine-wide: a run of this test elsewhere may set it back while this one's
    # watcher starts. Its queue is sized when it starts: start again until that was under 16.
    for _ in range(5):
        try:
            with open(knob, "w") as handle:
                handle.write("16")
            running = RunningDaemon(root, index_path)
            running.wait_for_log("watching")
            with open(knob) as handle:
                shrunk = handle.read().strip() == "16"
        finally:
            with open(knob, "w") as handle:  # new inotify instances get the normal size again
                handle.write(original)
        if shrunk:
            break
        assert running.stop() == 0
    try:
        (root / "burst").mkdir()
        assert wait_until(lambda: index_rows(index_path) == {} and os.path.exists(index_path))
        # Stopped before watchdog watches the new directory, the burst would raise no event to
        # overflow with: the watcher has applied the directory's creation, so it watches it.
        running.wait_for_log("directory rescanned")
        running.process.send_signal(signal.SIGSTOP)  # nobody reads: the 16-event queue overflows
        try:
            for number in range(2000):
                (root / "burst" / f"s{number:04d}.json").write_text('{"messages": []}')
        finally:
            running.process.send_signal(signal.SIGCONT)
        running.wait_for_log("reconciling the whole root", timeout=60)
        assert wait_until(lambda: len(index_rows(index_path)) == 2000, timeout=120)
    finally:
        assert running.stop() == 0


def test_in_process_daemon_leaks_no_threads(root, index_path):
    before = set(threading.enumerate())
    daemon = IndexDaemon(str(root), index_path)
    worker = threading.Thread(target=daemon.run)
    worker.start()
    try:
        write_session(root, "a", "s")
        assert wait_until(lambda: has(index_path, "a:s"))
    finally:
        daemon.stop()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert wait_until(lambda: set(threading.enumerate()) <= before, timeout=10)


def test_a_big_reconcile_at_start_uses_a_safe_pool_and_stops_cleanly(root, index_path):
    """2,500 files at start: the reconcile parses them in a pool while watchdog's threads run
    (forking from a threaded process could hang a worker; the pool comes from a fork server)."""
    for agent in range(5):
        directory = root / f"agent-{agent}"
        directory.mkdir()
        for number in range(500):
            (directory / f"s{number:03d}.json").write_text('{"messages": []}')
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching", timeout=120)
    assert len(index_rows(index_path)) == 2500
    assert running.stop() == 0, running.drain()


def test_a_root_given_through_a_symlink(root, tmp_path, index_path):
    link = tmp_path / "link"
    link.symlink_to(root)
    running = RunningDaemon(link, index_path)
    running.wait_for_log("watching")
    try:
        write_session(root, "a", "s")
        assert wait_until(lambda: has(index_path, "a:s"))
        result = run(
            "-v",
            "--sessions-dir",
            str(link),
            "--index",
            index_path,
            "session",
            "list",
            "-f",
            "json",
        )
        assert listed_ids(result) == ["a:s"]
        assert "mofa-indexd confirmed the index" in result.stderr
    finally:
        assert running.stop() == 0
