"""The pool of parsing processes leaves nothing behind, even after a process killed mid-build."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest

from indexer.build import refresh


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pool of workers on a single CPU")
def test_results_left_by_a_killed_build_are_removed_by_the_next_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the results go without /dev/shm
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    parser = refresh.FileParser(str(tmp_path))
    try:
        assert parser.pool() is not None
        place = os.path.dirname(parser._folder)
    finally:
        parser.close()
    left = os.path.join(place, f"mofa-parse-{gone.stdout.strip()}-x1y2")
    alive = os.path.join(place, f"mofa-parse-{os.getpid()}-x1y2")
    for folder in (left, alive):
        os.mkdir(folder)
        with open(os.path.join(folder, "1"), "wb") as handle:
            handle.write(b"a result")
    try:
        parser = refresh.FileParser(str(tmp_path))
        try:
            assert parser.pool() is not None
        finally:
            parser.close()
        assert not os.path.exists(left)
        assert os.path.exists(alive)  # its process may still read it
    finally:
        for folder in (left, alive):
            if os.path.exists(folder):
                os.unlink(os.path.join(folder, "1"))
                os.rmdir(folder)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pool of workers on a single CPU")
def test_a_closed_pool_leaves_no_results_and_no_worker(tmp_path):
    parser = refresh.FileParser(str(tmp_path))
    pending = [parser.submit(sorted, [3, 1, 2]) for _ in range(8)]
    assert [parser.collect(future, [3, 1, 2], sorted) for future in pending] == [[1, 2, 3]] * 8
    folder = parser._folder
    workers = {child.pid for child in multiprocessing.active_children()}
    parser.close()
    assert not os.path.exists(folder)
    assert workers and not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]


# A process that starts its pool, hands it a batch, then is killed outright (kill -9, the OOM
# killer), as a watcher may be. With other threads running, the workers come from a fork server.
KILLED_MID_BUILD = """
import os, signal, sys, threading
from indexer.build import refresh

if sys.argv[1] == "forkserver":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
parser = refresh.FileParser(sys.argv[2])
future = parser.submit(sorted, [3, 1, 2])
assert parser.collect(future, [3, 1, 2], sorted) == [1, 2, 3]
parser.submit(sorted, [2, 1])
print("pool started", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pool of workers on a single CPU")
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_the_workers_of_a_process_killed_outright_end_by_themselves(tmp_path, method):
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_BUILD, method, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Every process it left behind holds this pipe: it ends once the last of them is gone.
        output, _ = process.communicate(timeout=20 * refresh.ORPHAN_CHECK_S)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9
    # (then, with a fork server, Python's resource tracker may say it cleaned up after it)
    assert output.startswith(b"pool started\n")
