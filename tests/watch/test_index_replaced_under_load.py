"""While mofa-indexd rebuilds an index found overwritten, no command answers from the new,
still empty one (nor from a new file paired with the old one's -wal)."""

from __future__ import annotations

import json
import os
import subprocess
import time

from tests.daemon_helpers import RunningDaemon
from tests.helpers import BIN, write_session

ROUNDS = int(os.environ.get("MOFA_STRESS_ROUNDS", "100"))
BUDGET_S = float(os.environ.get("MOFA_STRESS_SECONDS", "60"))


def test_every_list_is_exact_while_the_watcher_rebuilds_an_overwritten_index(root, index_path):
    ids = []
    for number in range(5):
        write_session(root, "a", f"s{number}", created_at=f"2024-02-28T10:00:0{number}Z")
        ids.append(f"a:s{number}")
    running = RunningDaemon(root, index_path)
    wrong = []
    try:
        running.wait_for_log("watching")
        stop_at = time.monotonic() + BUDGET_S  # bounds the run; nothing asserts a time
        for round_number in range(ROUNDS):
            if time.monotonic() > stop_at:
                break
            pages = max(2, os.path.getsize(index_path) // 4096)
            subprocess.run(  # the whole file, in place, by another process
                ["dd", "if=/dev/urandom", f"of={index_path}", "bs=4096", f"count={pages}"]
                + ["conv=notrunc"],
                check=True,
                capture_output=True,
            )
            done = subprocess.run(
                [str(BIN / "mofa"), "session", "list", "-f", "json"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            listed = (
                [row["session_id"] for row in json.loads(done.stdout)]
                if done.returncode == 0
                else done.stderr
            )
            if listed != ids:
                wrong.append((round_number, done.returncode, listed))
        assert running.process.poll() is None
    finally:
        assert running.stop() == 0, running.drain()
    assert wrong == []
