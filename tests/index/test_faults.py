"""Processes killed at the worst moment: the index stays usable and equal to the files."""

import json
import signal
import subprocess
import threading

from tests.daemon_helpers import RunningDaemon, index_rows, wait_until
from tests.helpers import BIN, run


def burst(root, start, count):
    directory = root / f"agent-{start // 500}"
    directory.mkdir(exist_ok=True)
    for number in range(start, start + count):
        (root / f"agent-{number // 500}").mkdir(exist_ok=True)
        (root / f"agent-{number // 500}" / f"s{number:05d}.json").write_text(
            json.dumps(
                {
                    "created_at": "2024-02-28T10:30:00Z",
                    "messages": [{"role": "user", "content": "x"}],
                }
            )
        )


def test_kill_9_of_the_watcher_mid_burst_then_restart(root, index_path):
    running = RunningDaemon(root, index_path)
    running.wait_for_log("watching")
    writer = threading.Thread(target=burst, args=(root, 0, 3000))
    writer.start()
    assert wait_until(lambda: len(index_rows(index_path)) > 200, timeout=60)
    running.process.send_signal(signal.SIGKILL)
    assert running.stop() == -signal.SIGKILL
    writer.join()
    burst(root, 3000, 200)  # changes while no watcher runs
    restarted = RunningDaemon(root, index_path)
    restarted.wait_for_log("watching")
    try:
        assert len(index_rows(index_path)) == 3200
        verify = run("session", "index", "verify")
        assert verify.exit_code == 0, verify.stdout
    finally:
        assert restarted.stop() == 0


def test_mofa_killed_mid_refresh_leaves_a_usable_index(root, index_path):
    burst(root, 0, 4000)
    for attempt in range(3):
        process = subprocess.Popen(
            [str(BIN / "mofa"), "session", "index", "rebuild"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill once it is writing: the index exists and has some rows (or after a bounded wait).
        wait_until(
            lambda attempt=attempt: len(index_rows(index_path)) > 500 * attempt,
            timeout=30,
            interval=0.005,
        )
        process.kill()
        process.wait(timeout=30)
        listed = run("session", "list", "-f", "json")
        assert listed.exit_code == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 4000
        assert run("session", "index", "verify").exit_code == 0
