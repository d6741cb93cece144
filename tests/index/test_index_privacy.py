"""The index copies what sessions say: it is as private as they are, whatever the umask, and
a watcher's own files are never reached through a symlink planted in a shared directory."""

from __future__ import annotations

import os
import signal
import stat
import subprocess

import pytest

from indexer.index.location import root_lock_path
from indexer.watch.autostart import log_path
from indexer.watch.lock import lock_path, running_pid, watcher_record
from tests.daemon_helpers import RunningDaemon, wait_until
from tests.helpers import BIN, message, run_installed, write_session

UMASK_022 = ["sh", "-c", 'umask 022; exec "$0" "$@"']


def private_root(root):
    for number in range(3):
        path = write_session(root, "a", f"s{number}", [message("user", f"secret {number}")])
        os.chmod(path, 0o600)
    os.chmod(root / "a", 0o700)
    os.chmod(root, 0o700)


def readable_by_others(top) -> list[str]:
    """Every path under `top` (itself included) that its group or other users may read."""
    found = []
    for directory, _dirs, files in os.walk(top):
        for path in [directory] + [os.path.join(directory, name) for name in files]:
            if os.lstat(path).st_mode & 0o077:
                found.append(f"{path} {stat.filemode(os.lstat(path).st_mode)}")
    return found


def test_a_command_makes_the_index_private_under_umask_022(root, tmp_path):
    private_root(root)
    cache = tmp_path / "cache"
    for args in (["list"], ["search", "secret"], ["index", "rebuild"]):
        done = run_installed("session", *args, umask=0o022)
        assert done.returncode == 0, done.stderr
    assert (cache / "mofa" / "index").is_dir()
    assert readable_by_others(cache) == []


def test_the_watcher_makes_its_files_private_under_umask_022(root, tmp_path, index_path):
    private_root(root)
    cache = tmp_path / "cache"
    running = RunningDaemon(root, index_path, prefix=UMASK_022)
    try:
        running.wait_for_log("watching")
        write_session(root, "b", "new", [message("user", "another secret")])
        done = run_installed("session", "search", "secret", umask=0o022)
        assert done.returncode == 0, done.stderr
        assert os.path.exists(lock_path(index_path)) and os.path.exists(index_path + "-wal")
        assert readable_by_others(cache) == []
    finally:
        assert running.stop() == 0, running.drain()


def test_an_auto_started_watcher_logs_to_a_private_file(root, tmp_path, index_path):
    private_root(root)
    try:
        done = run_installed(
            "session",
            "list",
            env={"MOFA_AUTOSTART": "1", "MOFA_AUTOSTART_MIN_FILES": "1"},
            umask=0o022,
        )
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: running_pid(index_path) is not None, timeout=30)
        assert os.path.exists(log_path(index_path))
        assert readable_by_others(tmp_path / "cache") == []
    finally:
        stop_started_watcher(index_path)


def watcher_answering(index_path) -> bool:
    record = watcher_record(index_path)
    return record is not None and record.state == "answering"


def stop_started_watcher(index_path) -> None:
    pid = running_pid(index_path)
    if pid is not None and pid > 0:
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: running_pid(index_path) is None, timeout=30):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: running_pid(index_path) is None, timeout=10)
    assert running_pid(index_path) is None


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    return path


@pytest.mark.parametrize("which", ["index lock", "root lock"])
def test_the_watcher_never_truncates_through_a_planted_symlink(root, index_path, victim, which):
    planted = lock_path(index_path if which == "index lock" else root_lock_path(str(root)))
    os.makedirs(os.path.dirname(planted), exist_ok=True)
    os.symlink(victim, planted)
    done = subprocess.run(
        [str(BIN / "mofa-indexd"), "--sessions-dir", str(root), "--index", index_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1 and "symlink" in done.stderr, done.stderr
    assert victim.read_text() == "precious\n"
    assert os.path.islink(planted)


def test_a_lock_file_of_another_owner_or_with_other_links_is_not_truncated(
    root, index_path, victim
):
    os.makedirs(os.path.dirname(index_path), exist_ok=True)
    os.link(victim, lock_path(index_path))
    done = subprocess.run(
        [str(BIN / "mofa-indexd"), "--sessions-dir", str(root), "--index", index_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and len(done.stderr.splitlines()) == 1, done.stderr
    assert victim.read_text() == "precious\n"


def test_an_auto_start_never_appends_to_a_planted_log_symlink(root, index_path, victim):
    write_session(root, "a", "s")
    os.makedirs(os.path.dirname(index_path), exist_ok=True)
    os.symlink(victim, log_path(index_path))
    try:
        done = run_installed(
            "-v",
            "session",
            "list",
            env={"MOFA_AUTOSTART": "1", "MOFA_AUTOSTART_MIN_FILES": "1"},
        )
        assert done.returncode == 0, done.stderr
        assert "a:s" in done.stdout
        if "started mofa-indexd" in done.stderr:
            # Once it answers, a watcher has logged its reconcile: none of it may reach the victim.
            assert wait_until(lambda: watcher_answering(index_path), timeout=30)
        else:
            assert "could not start mofa-indexd" in done.stderr and "symlink" in done.stderr
        assert victim.read_text() == "precious\n"
    finally:
        stop_started_watcher(index_path)
