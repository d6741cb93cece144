"""Hostile checks of what session 4 merged (the no-watcher look for changes, the cold build's
workers, untranslated click, the FNV-1a root digest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import BIN, listed_ids, run_installed

SESSION = ('{"created_at": "2024-02-28T10:30:%02dZ", "metadata": {"user_id": "u"}, '
           '"messages": [%s]}')
MESSAGE = '{"role": "user", "content": "hi", "timestamp": "2024-02-28T10:31:00Z"}'


def _write_many(root, agents: int, per_agent: int, messages: int = 1) -> list[str]:
    ids = []
    body = ", ".join([MESSAGE] * messages)
    for a in range(agents):
        directory = root / f"agent-{a}"
        directory.mkdir(exist_ok=True)
        for i in range(per_agent):
            (directory / f"s{i:05d}.json").write_text(SESSION % (i % 60, body))
            ids.append(f"agent-{a}:s{i:05d}")
    return sorted(ids)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _run_killing_workers(place, *args, timeout: float = 60.0):
    """Run `mofa ARGS`, killing (kill -9) each of its worker processes as soon as it appears,
    as the OOM killer would. (stdout, stderr, returncode, the pids killed); the command must end."""
    with open(place / "out", "w+b") as out, open(place / "err", "w+b") as err:
        process = subprocess.Popen([str(BIN / "mofa"), *args], stdout=out, stderr=err,
                                   start_new_session=True)
        killed: set[int] = set()
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                for child in _children(process.pid):
                    if child not in killed:
                        try:
                            os.kill(child, signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                        killed.add(child)
                time.sleep(0.001)
            if process.poll() is None:
                pytest.fail(f"mofa {' '.join(args)} hung after its workers {sorted(killed)} were killed")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), process.returncode, killed


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pool of workers on a single CPU")
@pytest.mark.parametrize("first", ["build", "rebuild"])
def test_a_cold_build_whose_workers_are_killed_parses_the_rest_itself(root, tmp_path, first):
    # A worker killed mid-build took its batch with it; the build waited for that batch for
    # ever (multiprocessing's Pool never gives up on a lost task).
    ids = _write_many(root, 3, 900)  # >= BIG_WRITE: a build in bulk, with a pool
    if first == "build":
        out, err, code, killed = _run_killing_workers(tmp_path, "session", "list", "-f", "json")
        assert code == 0, err
        assert sorted(item["session_id"] for item in json.loads(out)) == ids
    else:
        assert run_installed("session", "list").returncode == 0
        out, err, code, killed = _run_killing_workers(tmp_path, "session", "index", "rebuild")
        assert code == 0, err
    assert killed, "no worker was seen to kill"
    assert not [pid for pid in killed if _alive(pid)]
    assert b"Traceback" not in err
    listing = run_installed("session", "list", "-f", "json")
    assert sorted(listed_ids(listing)) == ids
    assert listing.stderr == ""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="no pool of workers on a single CPU")
def test_a_refresh_whose_workers_are_killed_parses_the_rest_itself(root, tmp_path):
    _write_many(root, 2, 800)
    assert run_installed("session", "list").returncode == 0
    ids = _write_many(root, 2, 800, messages=3)  # every file changed: >= PARALLEL_THRESHOLD
    out, err, code, killed = _run_killing_workers(tmp_path, "session", "list", "-f", "json")
    assert code == 0, err
    assert killed
    rows = json.loads(out)
    assert sorted(item["session_id"] for item in rows) == ids
    assert {item["message_count"] for item in rows} == {3}
    assert not [pid for pid in killed if _alive(pid)]
