"""Ctrl-C during a cold build: the whole process group gets SIGINT, as from a terminal."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import BIN, listed_ids, run_installed

# Above the refresh's threshold for a pool of parsing processes, and enough that the build
# is still running when its workers appear, however fast the machine.
FILES = 10_000


@pytest.fixture
def big_root(root):
    document = json.dumps({"messages": [{"role": "user", "content": "x" * 200}] * 20})
    for agent in range(8):
        directory = root / f"agent-{agent}"
        directory.mkdir()
        for number in range(FILES // 8):
            (directory / f"s{number:04d}.json").write_text(document)
    return root


def _processes():
    """(pid, state, parent pid, process group) of every process, from /proc/PID/stat."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            yield int(entry), fields[0], int(fields[1]), int(fields[2])


def children(pid: int) -> list[int]:
    return [child for child, _, parent, _ in _processes() if parent == pid]


def group_members(pgid: int) -> list[int]:
    return [member for member, state, _, group in _processes() if group == pgid and state != "Z"]


def interrupt_once_the_pool_runs(
    argv: list[str], what: str, workers: int = 2
) -> tuple[int, str, int]:
    """(exit status, stderr, process group) of `mofa session ARGV` sent SIGINT (to its whole
    group, as a terminal's Ctrl-C is) once its pool of `workers` runs, after the group is gone."""
    process = subprocess.Popen(
        [str(BIN / "mofa"), "session", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            len(children(process.pid)) < workers
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        assert process.poll() is None, f"the {what} ended before it could be interrupted"
        assert len(children(process.pid)) >= workers, "no pool of workers was started"
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    deadline = time.monotonic() + 10
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return process.returncode, stderr, process.pid


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the pool is used only with several CPUs")
@pytest.mark.parametrize("command", [["list"], ["index", "rebuild"]])
def test_ctrl_c_during_a_cold_build(big_root, command):
    status, stderr, group = interrupt_once_the_pool_runs(command, "build")
    assert status == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    assert group_members(group) == []  # no worker left behind
    listed = run_installed("session", "list", "-f", "json")
    assert len(listed_ids(listed)) == FILES
    assert run_installed("session", "index", "verify").returncode == 0


def test_ctrl_c_at_the_delete_prompt(root):
    from tests.helpers import write_session

    write_session(root, "a", "s")
    process = subprocess.Popen(
        [str(BIN / "mofa"), "session", "delete", "a:s"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        output = ""
        while "?" not in output and time.monotonic() < deadline:
            chunk = os.read(process.stderr.fileno(), 4096).decode()
            if not chunk:
                break
            output += chunk
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert (root / "a" / "s.json").exists()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the pool is used only with several CPUs")
def test_ctrl_c_during_a_rebuild_keeps_the_old_index_whole(big_root, index_path):
    """The rebuild replaces every row in one transaction: interrupted, the index is the old one,
    every row of it, and no file is left beside it."""
    import sqlite3

    assert run_installed("session", "list", "-f", "json").returncode == 0
    for number in range(100):  # the old index lacks these
        (big_root / "agent-0" / f"new{number:03d}.json").write_text('{"messages": []}')
    index_dir = os.path.dirname(index_path)
    files_before = sorted(os.listdir(index_dir))
    status, stderr, group = interrupt_once_the_pool_runs(["index", "rebuild"], "rebuild")
    assert status == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert group_members(group) == []
    conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == FILES
        assert conn.execute("SELECT count(*) FROM dirs").fetchone()[0] == 9
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            len(
                conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                    " AND tbl_name = 'sessions' AND sql IS NOT NULL"
                ).fetchall()
            )
            >= 3
        )
    finally:
        conn.close()
    assert sorted(
        name for name in os.listdir(index_dir) if not name.endswith(("-wal", "-shm"))
    ) == sorted(name for name in files_before if not name.endswith(("-wal", "-shm")))
    assert len(listed_ids(run_installed("session", "list", "-f", "json"))) == FILES + 100
    assert run_installed("session", "index", "verify").returncode == 0


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the pool is used only with several CPUs")
def test_ctrl_c_during_a_first_search_leaves_no_reader_and_the_next_search_ends_it(big_root):
    """The first search reads the files in a pool of processes (one per CPU but one):
    interrupted, it exits 130 with no worker left, and the next search finishes the search
    data, every session found."""
    assert run_installed("session", "list", "-n", "1").returncode == 0  # the index, no search data
    # One reader on two CPUs: this process writes all along.
    readers = (os.cpu_count() or 1) - 1
    status, stderr, group = interrupt_once_the_pool_runs(
        ["search", "xxxx"], "first search", readers
    )
    assert status == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    assert group_members(group) == []
    found = run_installed("session", "search", "x" * 200, "-n", "100000", "-f", "json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)) == FILES
