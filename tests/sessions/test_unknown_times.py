"""A session whose only time is an absurd mtime: its created_at is unknown, never a crash.

Unknown is stored as '' in the index (it sorts before every time), shown as `-` in tables and
as null in JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import tempfile

import pytest

from mofa.session import Session
from tests.daemon_helpers import RunningDaemon
from tests.helpers import run, run_installed, write_session

YEAR_11476 = 300_000_000_000 * 10**9
BEFORE_YEAR_1 = -70_000_000_000 * 10**9


@pytest.mark.parametrize("mtime_ns", [YEAR_11476, BEFORE_YEAR_1, 10**30, -(10**30)])
def test_an_unrepresentable_mtime_is_an_unknown_created_at(mtime_ns):
    session = Session("a:s", "a", "s", "json", "/x/a/s.json", {"messages": []}, [], mtime_ns)
    assert session.created_at is None
    assert session.summary().created_at == ""


@pytest.fixture(params=["disk", "tmpfs"])
def odd_root(request, tmp_path, monkeypatch):
    """A root whose session files carry absurd mtimes. ext4 clamps them to the years
    1901-2446 (beyond what SQLite's integers hold in nanoseconds); tmpfs keeps them as set."""
    if request.param == "disk":
        root = tmp_path / "odd-root"
    else:
        if not os.path.isdir("/dev/shm"):
            pytest.skip("no tmpfs at /dev/shm")
        root = tempfile.mkdtemp(dir="/dev/shm", prefix="mofa-test-")
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
        from pathlib import Path

        root = Path(root) / "sessions"
    future = write_session(root, "a", "future", messages=[], created_at=None)
    past = write_session(root, "a", "past", messages=[], created_at=None)
    write_session(root, "a", "normal")
    os.utime(future, ns=(0, YEAR_11476))
    os.utime(past, ns=(0, BEFORE_YEAR_1))
    monkeypatch.setenv("MOFA_SESSIONS_DIR", str(root))
    return root


def _unknown(root, name) -> bool:
    from mofa.timestamps import from_epoch_ns

    return from_epoch_ns(os.stat(root / "a" / f"{name}.json").st_mtime_ns) is None


def test_list_query_rebuild_and_show_never_fail(odd_root):
    listed = run_installed("session", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["session_id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"a:future", "a:past", "a:normal"}
    for name in ("future", "past"):
        if _unknown(odd_root, name):
            assert rows[f"a:{name}"]["created_at"] is None
    table = run_installed("session", "list")
    assert table.returncode == 0, table.stderr
    assert "internal error" not in table.stderr
    if _unknown(odd_root, "future"):
        assert "│ a:future   │ -                   │" in table.stdout
    queried = run_installed(
        "session",
        "query",
        "SELECT session_id, created_at FROM sessions ORDER BY created_at, session_id",
        "-f",
        "json",
    )
    assert queried.returncode == 0, queried.stderr
    order = [row["session_id"] for row in json.loads(queried.stdout)]
    if _unknown(odd_root, "future"):  # '' sorts before every time
        assert order[-1] == "a:normal"
    rebuilt = run_installed("session", "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "✓ Indexed 3 sessions (0 unreadable files)" in rebuilt.stderr
    assert run_installed("session", "index", "verify").returncode == 0
    for name in ("future", "past"):
        shown = run_installed("session", "show", f"a:{name}", "-f", "json")
        assert shown.returncode == 0, shown.stderr
        if _unknown(odd_root, name):
            assert json.loads(shown.stdout)["created_at"] is None
            assert "Created: -\n" in run_installed("session", "show", f"a:{name}").stdout


def test_the_limit_sorts_unknown_times_first(odd_root):
    if not (_unknown(odd_root, "future") and _unknown(odd_root, "past")):
        pytest.skip("this file system clamps the times")
    result = run("session", "list", "-n", "1", "-f", "json")
    assert [row["session_id"] for row in json.loads(result.stdout)] == ["a:normal"]


def test_mofa_indexd_indexes_them(odd_root, tmp_path):
    index = tmp_path / "indexd.sqlite3"
    daemon = RunningDaemon(odd_root, index)
    try:
        daemon.wait_for_log("watching")
        assert daemon.process.poll() is None
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
            count = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        conn.close()
    finally:
        code = daemon.stop(signal.SIGTERM, timeout=30)
    log = daemon.drain()
    assert count == 3, log
    assert code == 0, log
    assert "Traceback" not in log
