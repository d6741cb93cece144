"""Auto-start: a command that stat-ed a big root starts mofa-indexd for it, later
commands take its handshake, it exits after a while without commands, MOFA_AUTOSTART=0 turns
it off. Real processes throughout; whatever is started is killed in the end."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from indexer.watch.autostart import log_path
from indexer.watch.lock import running_pid, watcher_record
from tests.daemon_helpers import RunningDaemon, wait_until
from tests.helpers import run_installed, write_session

BIG = {"MOFA_AUTOSTART": "1", "MOFA_AUTOSTART_MIN_FILES": "50"}


@pytest.fixture
def big_root(root):
    for number in range(60):
        write_session(root, f"agent-{number % 3}", f"s{number:03d}")
    return root


@pytest.fixture
def reaper(index_path):
    """Stops the watcher a command started, whatever the test did (it is not our child)."""
    yield
    pid = running_pid(index_path)
    if pid is not None and pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_until(lambda: running_pid(index_path) is None, timeout=30):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: running_pid(index_path) is None, timeout=10)
    assert running_pid(index_path) is None


def watcher_log(index_path) -> str:
    with open(log_path(str(index_path))) as handle:
        return handle.read()


def watcher_answering(index_path) -> bool:
    record = watcher_record(index_path)
    return record is not None and record.state == "answering"


def test_a_big_root_gets_a_watcher_once_and_later_commands_use_it(big_root, index_path, reaper):
    first = run_installed("session", "list", "--limit", "1", env=BIG)
    assert first.returncode == 0, first.stderr
    started = [line for line in first.stderr.splitlines() if "mofa-indexd" in line]
    assert len(started) == 1 and started[0].startswith("→ Started mofa-indexd for ")
    assert wait_until(lambda: watcher_answering(index_path), timeout=30)
    pid = running_pid(index_path)
    assert watcher_record(index_path).idle_exit == 3600

    second = run_installed(
        "-v", "session", "list", "--limit", "1", "--output-format", "json", env=BIG
    )
    assert second.returncode == 0, second.stderr
    assert "mofa-indexd confirmed the index" in second.stderr
    assert "Started mofa-indexd" not in second.stderr
    assert running_pid(index_path) == pid  # the same watcher, no second one

    write_session(big_root, "agent-0", "fresh")  # the watcher keeps the index exact
    third = run_installed(
        "-v", "session", "list", "--agent", "agent-0", "--output-format", "json", env=BIG
    )
    assert "agent-0:fresh" in [row["session_id"] for row in json.loads(third.stdout)]
    assert "confirmed" in third.stderr

    status = json.loads(run_installed("session", "index", "status", "-f", "json", env=BIG).stdout)
    assert status["watcher_pid"] == pid
    assert status["watcher_started_by"].startswith("a command")
    assert "watching" in watcher_log(index_path)


def test_an_auto_started_watcher_exits_after_the_idle_time(big_root, index_path, reaper):
    env = dict(BIG, MOFA_AUTOSTART_IDLE="1")
    assert "→ Started mofa-indexd" in run_installed("session", "list", env=env).stderr
    assert wait_until(lambda: running_pid(index_path) is not None, timeout=30)
    # Without a command it goes by itself (bounded wait, far above the idle time).
    assert wait_until(lambda: running_pid(index_path) is None, timeout=60)
    assert "no command for 1 s" in watcher_log(index_path)


def test_commands_keep_an_auto_started_watcher_alive(big_root, index_path, reaper):
    env = dict(BIG, MOFA_AUTOSTART_IDLE="3")
    run_installed("session", "list", env=env)
    assert wait_until(lambda: watcher_answering(index_path), timeout=30)
    pid = running_pid(index_path)
    deadline = time.monotonic() + 6  # twice the idle time, with a command every second
    while time.monotonic() < deadline:
        result = run_installed("-v", "session", "list", "--limit", "1", env=env)
        assert "confirmed" in result.stderr, result.stderr
        time.sleep(1)
    assert running_pid(index_path) == pid


def test_autostart_off_or_a_small_root_starts_nothing(big_root, index_path, reaper):
    off = run_installed("-v", "session", "list", env=dict(BIG, MOFA_AUTOSTART="0"))
    assert off.returncode == 0 and "started" not in off.stderr
    small = run_installed("-v", "session", "list", env=dict(BIG, MOFA_AUTOSTART_MIN_FILES="1000"))
    assert small.returncode == 0 and "started" not in small.stderr
    assert running_pid(index_path) is None and not os.path.exists(log_path(str(index_path)))


def test_a_watcher_started_by_a_user_is_reused_and_never_idles_out(big_root, index_path, reaper):
    daemon = RunningDaemon(big_root, index_path)
    try:
        daemon.wait_for_log("watching")
        result = run_installed("-v", "session", "list", env=dict(BIG, MOFA_AUTOSTART_IDLE="1"))
        assert "confirmed" in result.stderr and "started" not in result.stderr
        assert watcher_record(index_path).idle_exit is None
        status = json.loads(run_installed("session", "index", "status", "-f", "json").stdout)
        assert status["watcher_started_by"] == "a user (runs until stopped)"
    finally:
        assert daemon.stop() == 0


def test_an_auto_started_watcher_whose_root_is_gone_still_exits(big_root, index_path, reaper):
    import shutil

    env = dict(BIG, MOFA_AUTOSTART_IDLE="2")
    run_installed("session", "list", env=env)
    assert wait_until(lambda: watcher_answering(index_path), timeout=30)
    shutil.rmtree(big_root)
    assert wait_until(lambda: running_pid(index_path) is None, timeout=60)
    log = watcher_log(index_path)
    assert "is gone" in log and "no command for 2 s" in log


def test_index_stop_stops_the_watcher_of_the_root(big_root, index_path, reaper):
    run_installed("session", "list", "--limit", "1", env=BIG)
    assert wait_until(lambda: running_pid(index_path) is not None, timeout=30)
    pid = running_pid(index_path)
    stopped = run_installed("session", "index", "stop", env=BIG)
    assert stopped.returncode == 0, stopped.stderr
    assert f"Stopped mofa-indexd (pid {pid})" in stopped.stderr
    assert running_pid(index_path) is None
    again = run_installed("session", "index", "stop", env=BIG)
    assert again.returncode == 0 and "No mofa-indexd watches this root" in again.stderr
