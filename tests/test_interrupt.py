"""Ctrl-C during a cold build: the whole process group gets SIGINT, as from a terminal."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import BIN, listed_ids, run_installed

FILES = 4000  # above the refresh's threshold for a pool of parsing processes


@pytest.fixture
def big_root(root):
    document = json.dumps({"messages": [{"role": "user", "content": "x" * 200}] * 20})
    for agent in range(8):
        directory = root / f"agent-{agent}"
        directory.mkdir()
        for number in range(FILES // 8):
            (directory / f"s{number:03d}.json").write_text(document)
    return root


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the pool is used only with several CPUs")
@pytest.mark.parametrize("command", [["list"], ["index", "rebuild"]])
def test_ctrl_c_during_a_cold_build(big_root, command):
    process = subprocess.Popen([str(BIN / "mofa"), "session", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(children(process.pid)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, "the build ended before it could be interrupted"
        assert len(children(process.pid)) >= 2, "no pool of workers was started"
        time.sleep(0.1)  # the workers are parsing now
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    deadline = time.monotonic() + 10
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert group_members(process.pid) == []  # no worker left behind
    listed = run_installed("session", "list", "-f", "json")
    assert len(listed_ids(listed)) == FILES
    assert run_installed("session", "index", "verify").returncode == 0


def test_ctrl_c_at_the_delete_prompt(root):
    from tests.helpers import write_session

    write_session(root, "a", "s")
    process = subprocess.Popen([str(BIN / "mofa"), "session", "delete", "a:s"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
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
