"""A refresh under faults: workers killed, session files swapped for FIFOs or symlinks after
their scan, a root whose path is not UTF-8, and each warning said once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import BIN, listed_ids, run_installed

SESSION = '{"created_at": "2024-02-28T10:30:%02dZ", "metadata": {"user_id": "u"}, "messages": [%s]}'
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
        process = subprocess.Popen(
            [str(BIN / "mofa"), *args], stdout=out, stderr=err, start_new_session=True
        )
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
                pytest.fail(
                    f"mofa {' '.join(args)} hung after its workers {sorted(killed)} were killed"
                )
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


def _found(root, directory: str, name: str):
    """The FileStat a scan gives a session file now (what a refresh then hands the parser)."""
    from mofa import tree

    scan = tree.scan_dir(
        os.path.join(root, directory) if directory else str(root), bool(directory), keep_keys=True
    )
    return dict(zip(scan.names, tree.file_stats(scan), strict=True))[name]


@pytest.mark.parametrize("directory, name", [("agent", "s.json"), ("", "k.jsonl")])
def test_a_session_file_swapped_for_a_fifo_after_its_scan_is_not_waited_on(root, directory, name):
    # The reference parser (a refresh's, and a cold build's for the root's MoFA files) opened
    # by path a file the scan had found: a FIFO put in its place meanwhile blocked the command
    # for ever in open().
    import threading

    from indexer.build.refresh import parse_one

    (root / "agent").mkdir()
    path = root / directory / name
    path.write_text('{"messages": []}' if directory else '{"key": "k"}')
    stat = _found(root, directory, name)
    path.unlink()
    os.mkfifo(path)
    parsed = []
    reader = threading.Thread(target=lambda: parsed.append(parse_one(str(root), directory, stat)))
    reader.start()
    reader.join(30)
    if reader.is_alive():  # blocked in open(): a writer lets it go, then the test fails
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(30)
        pytest.fail("the parser blocked on a FIFO put in a session file's place")
    assert (parsed[0].row, parsed[0].error) == (None, None)  # gone, as the next scan says


@pytest.mark.parametrize("directory, name", [("agent", "s.json"), ("", "k.jsonl")])
def test_a_session_file_swapped_for_a_symlink_after_its_scan_is_not_followed(
    root, tmp_path, directory, name
):
    # ... and read through a symlink put in its place: a file outside the root became a row.
    from indexer.build.refresh import parse_one

    (root / "agent").mkdir()
    path = root / directory / name
    path.write_text('{"messages": []}' if directory else '{"key": "k"}')
    stat = _found(root, directory, name)
    outside = tmp_path / "outside.json"
    outside.write_text('{"key": "outside", "messages": []}')
    path.unlink()
    path.symlink_to(outside)
    parsed = parse_one(str(root), directory, stat)
    assert (parsed.row, parsed.error) == (None, None)


def test_show_of_a_session_file_swapped_for_a_symlink_reads_nothing_outside(root, tmp_path):
    from mofa.errors import SessionNotFound
    from mofa.reading import read_bytes

    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    link = root / "link.json"
    link.symlink_to(outside)
    with pytest.raises(SessionNotFound):
        read_bytes(str(link), found=True)
    fifo = root / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(SessionNotFound):
        read_bytes(str(fifo), found=True)


@pytest.mark.parametrize("command", [("session", "list"), ("session", "index", "status")])
def test_a_root_whose_path_is_not_utf8_is_refused_in_one_line(tmp_path, command):
    # The index keeps the root (and each session's path) as UTF-8 text: a root named with other
    # bytes failed with "internal error: UnicodeEncodeError".
    root = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"sessions-\xff\xfe"))
    os.makedirs(os.path.join(root, "agent"))
    with open(os.path.join(root, "agent", "s.json"), "w") as handle:
        handle.write('{"messages": []}')
    result = subprocess.run(
        [str(BIN / "mofa"), "--sessions-dir", root, *command], capture_output=True, timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert lines[-1] == (
        f"Error: the sessions root {tmp_path}/sessions-\\xff\\xfe is not valid UTF-8:"
        " its sessions cannot be indexed (rename it)"
    )
    assert not [line for line in lines if "internal error" in line or "Traceback" in line]


def test_a_first_listing_says_each_warning_once(root):
    # A small first build lists the directories for a bulk load, finds too few files for one,
    # and scans them again one by one: every warning of both scans was said, twice.
    from tests.helpers import write_session

    write_session(root, "agent-1", "s1")
    (root / "agent-1" / "bad\x01.json").write_text("{}")
    (root / "odd\x01dir").mkdir()
    result = run_installed("session", "list", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert listed_ids(result) == ["agent-1:s1"]
    lines = result.stderr.splitlines()
    assert len(lines) == 2 == len(set(lines)), result.stderr
    assert all(line.startswith("warning: ") for line in lines)


def test_a_first_listing_says_an_unreadable_agent_directory_once(place):
    from tests.cli.test_permissions import as_user
    from tests.helpers import write_session

    root = os.path.join(place, "sessions")
    write_session(__import__("pathlib").Path(root), "open", "s")
    write_session(__import__("pathlib").Path(root), "closed", "s")
    os.chmod(os.path.join(root, "closed"), 0o000)
    listing = as_user(place, "--sessions-dir", root, "session", "list", "-f", "json")
    assert listing.returncode == 0, listing.stderr
    assert [item["session_id"] for item in json.loads(listing.stdout)] == ["open:s"]
    assert listing.stderr.splitlines() == [
        f"warning: permission denied: {os.path.join(root, 'closed')}; its sessions are left out"
    ]


def test_a_directory_another_command_wrote_meanwhile_is_warned_of_once(root, index_path):
    # A refresh that finds a directory written by another process since its scan scans it
    # again under the lock: what both scans warned of was said twice.
    from indexer.build.freshness import survey
    from indexer.index.session_index import SessionIndex
    from tests.helpers import write_session

    write_session(root, "agent-1", "s1")
    (root / "agent-1" / "bad\x01.json").write_text("{}")
    assert run_installed("session", "list").returncode == 0
    time.sleep(0.2)  # past the racy window: the directory's digest is stored
    assert run_installed("session", "list").returncode == 0
    write_session(root, "agent-1", "s2")
    index = SessionIndex(str(root), index_path)
    try:
        seen = survey(index.conn, str(root), None)  # this command's look: agent-1 changed
        other = run_installed("session", "list")  # another command writes agent-1 meanwhile
        assert other.returncode == 0, other.stderr
        result = index._refresher().refresh(None, survey=seen)
        assert len(result.warnings) == 1, result.warnings
        assert "bad\x01.json" in result.warnings[0]
        rows = index.conn.execute("SELECT session_id FROM sessions ORDER BY 1").fetchall()
        assert rows == [("agent-1:s1",), ("agent-1:s2",)]
    finally:
        index.close()
