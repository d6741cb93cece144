"""16 `mofa` processes list while another process adds and rewrites session files."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.daemon_helpers import RunningDaemon
from tests.helpers import BIN

WRITER = r"""
import json, os, sys, time
root, log = sys.argv[1], sys.argv[2]
with open(log, "w") as out:
    for number in range(120):
        agent = f"agent-{number % 4}"
        os.makedirs(os.path.join(root, agent), exist_ok=True)
        path = os.path.join(root, agent, f"s{number:03d}.json")
        count = 1 + number % 5
        messages = [{"role": "user", "content": "x"}] * count
        document = {"created_at": "2024-02-28T10:30:00Z", "messages": messages}
        if number % 3 == 0:  # atomic replace
            temporary = os.path.join(root, agent, f".s{number:03d}.tmp")
            with open(temporary, "w") as handle:
                json.dump(document, handle)
            os.replace(temporary, path)
        else:
            with open(path, "w") as handle:
                json.dump(document, handle)
        out.write(f"{time.time()} {agent}:s{number:03d} {count}\n")
        out.flush()
        if number % 10 == 9:  # rewrite an earlier one in place with more messages
            earlier = number - 9
            agent = f"agent-{earlier % 4}"
            path = os.path.join(root, agent, f"s{earlier:03d}.json")
            document["messages"] = [{"role": "user", "content": "y"}] * 7
            with open(path, "r+") as handle:
                json.dump(document, handle)
                handle.truncate()
            out.write(f"{time.time()} {agent}:s{earlier:03d} 7\n")
            out.flush()
        time.sleep(0.01)
"""


def _reader(rounds):
    outcomes = []
    for _ in range(rounds):
        started = time.time()
        result = subprocess.run(
            [str(BIN / "mofa"), "session", "list", "-f", "json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        outcomes.append((started, result))
    return outcomes


@pytest.mark.parametrize("with_watcher", [False, True], ids=["files", "mofa-indexd"])
def test_sixteen_listers_and_a_writer(root, index_path, tmp_path, with_watcher):
    watcher = RunningDaemon(root, index_path) if with_watcher else None
    if watcher:
        watcher.wait_for_log("watching")
    log = tmp_path / "writes.log"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(log)])
    try:
        with ThreadPoolExecutor(16) as pool:
            results = [outcome for batch in pool.map(_reader, [4] * 16) for outcome in batch]
        assert writer.wait(timeout=300) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
        if watcher:
            assert watcher.stop() == 0
    writes = [line.split() for line in log.read_text().splitlines()]
    for started, result in results:
        assert result.returncode == 0, result.stderr
        # A file caught half-written is rightly warned about; nothing else may show.
        assert "locked" not in result.stderr and "Error" not in result.stderr, result.stderr
        assert all(line.startswith("warning: ") for line in result.stderr.splitlines()), (
            result.stderr
        )
        listed = {row["session_id"]: row["message_count"] for row in json.loads(result.stdout)}
        done_before = {}
        for stamp, session_id, count in writes:
            if float(stamp) < started:
                done_before[session_id] = int(count)
        for session_id, count in done_before.items():
            assert session_id in listed, f"{session_id} was written before the listing began"
            assert listed[session_id] >= count, session_id
        assert all(count in (1, 2, 3, 4, 5, 7) for count in listed.values())
    final = subprocess.run(
        [str(BIN / "mofa"), "session", "list", "-f", "json"], capture_output=True, text=True
    )
    assert len(json.loads(final.stdout)) == 120
