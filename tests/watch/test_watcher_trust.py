"""mofa-indexd's handshake proves that the watcher of this root, writing this index file,
applied every change made before a command started; anything less and the command refreshes
by itself. Real daemons, real files, real signals."""

import json
import os
import shutil
import signal
import subprocess

import pytest

from indexer.watch.lock import watcher_record
from tests.daemon_helpers import RunningDaemon, wait_until
from tests.helpers import BIN, listed_ids, message, run, write_session


def started(root, index_path, **kwargs) -> RunningDaemon:
    running = RunningDaemon(root, index_path, **kwargs)
    try:
        running.wait_for_log("watching")
    except BaseException:
        running.stop(signal.SIGKILL)
        raise
    return running


@pytest.fixture
def daemons():
    """Daemons a test starts; each is stopped (and must stop cleanly) at the end."""
    running = []
    yield running
    codes = []
    for daemon in running:
        try:
            codes.append((daemon.stop(), daemon))
        except subprocess.TimeoutExpired:
            daemon.process.kill()  # never leave one behind
            daemon.process.wait()
            codes.append((None, daemon))
    for code, daemon in codes:
        assert code == 0, daemon.drain()


def listing(*args, root=None, index=None) -> list[str]:
    options = []
    if root is not None:
        options += ["--sessions-dir", str(root)]
    if index is not None:
        options += ["--index", str(index)]
    result = run(*options, "session", "list", "-f", "json", *args)
    assert result.exit_code == 0, result.stderr
    return listed_ids(result)


def many(root, agent, count):
    for number in range(count):
        write_session(
            root,
            agent,
            f"s{number:03d}",
            created_at=f"2024-02-28T10:{number // 60:02d}:{number % 60:02d}Z",
        )
    return [f"{agent}:s{number:03d}" for number in range(count)]


# -- item 5: the index file deleted or overwritten under the watcher ----------------------
@pytest.mark.parametrize("how", ["deleted", "garbage in place", "garbage renamed over", "emptied"])
def test_index_file_replaced_under_the_watcher(root, index_path, daemons, how):
    ids = many(root, "a", 5)
    daemons.append(started(root, index_path))
    assert listing() == ids
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            os.unlink(index_path + suffix)
    elif how == "garbage in place":  # by another process, as a user would
        subprocess.run(
            ["dd", "if=/dev/urandom", f"of={index_path}", "bs=4096", "count=2", "conv=notrunc"],
            check=True,
            capture_output=True,
        )
    elif how == "garbage renamed over":
        with open(index_path + ".new", "wb") as handle:
            handle.write(b"garbage" * 1000)
        os.replace(index_path + ".new", index_path)
    else:
        os.truncate(index_path, 0)
    write_session(root, "b", "after")
    for _ in range(3):  # and again: the watcher goes on serving the new file
        assert listing() == ids + ["b:after"]
    write_session(root, "b", "later", created_at="2025-01-01T00:00:00Z")
    result = run("-v", "session", "list", "-f", "json")
    assert listed_ids(result) == ids + ["b:after", "b:later"]
    assert wait_until(
        lambda: "mofa-indexd confirmed" in run("-v", "session", "list").stderr, timeout=20
    )


def test_two_roots_sharing_one_index_path(tmp_path, daemons, monkeypatch):
    shared = tmp_path / "shared.sqlite3"
    monkeypatch.setenv("MOFA_INDEX_PATH", str(shared))
    first, second = tmp_path / "first", tmp_path / "second"
    first_ids, second_ids = many(first, "a", 3), many(second, "b", 4)
    daemons.append(started(first, shared))
    for _ in range(3):
        assert listing(root=second) == second_ids
        assert listing(root=first) == first_ids
    write_session(first, "a", "new", created_at="2025-01-01T00:00:00Z")
    write_session(second, "b", "new", created_at="2025-01-01T00:00:00Z")
    assert listing(root=second) == second_ids + ["b:new"]
    assert listing(root=first) == first_ids + ["a:new"]
    result = run("-v", "--sessions-dir", str(first), "session", "list")
    assert "mofa-indexd confirmed" in result.stderr


@pytest.fixture
def bind_mounted(tmp_path):
    source, target = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    target.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield source, target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.mark.parametrize("shared_index", [True, False])
def test_one_root_reached_through_a_bind_mount(
    bind_mounted, tmp_path, daemons, monkeypatch, shared_index
):
    source, mounted = bind_mounted
    if shared_index:
        monkeypatch.setenv("MOFA_INDEX_PATH", str(tmp_path / "shared.sqlite3"))
    from indexer.index.location import resolve_index_path

    ids = many(source, "a", 3)
    daemons.append(started(source, resolve_index_path(str(source))))
    for _ in range(2):
        assert listing(root=mounted) == ids
        assert listing(root=source) == ids
    write_session(mounted, "a", "new", created_at="2025-01-01T00:00:00Z")
    assert listing(root=mounted) == ids + ["a:new"]
    assert listing(root=source) == ids + ["a:new"]


# -- item 6: a second watcher of the same root, with another index -------------------------
def test_a_second_watcher_of_the_same_root_is_refused_whatever_its_index(root, tmp_path, daemons):
    """One watcher per root (DESIGN), so no second one can answer the first one's cookies; two
    names of one root that the lock cannot tell apart (a bind mount) are covered by the
    cookies' root and index identity (test_one_root_reached_through_a_bind_mount)."""
    first_index, second_index = str(tmp_path / "first.sqlite3"), str(tmp_path / "second.sqlite3")
    first = started(root, first_index)
    daemons.append(first)
    second = subprocess.run(
        [str(BIN / "mofa-indexd"), "--sessions-dir", str(root), "--index", second_index],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert (
        f"pid {first.process.pid}" in second.stderr and "already watches this root" in second.stderr
    )
    for number in range(20):
        write_session(root, "fast", f"s{number:03d}", created_at=f"2024-02-28T10:00:{number:02d}Z")
        index = first_index if number % 2 else second_index
        assert listing("-a", "fast", "-n", "1", index=index) == [f"fast:s{number:03d}"]


# -- item 7: never vouch for a failed write; back off instead of spinning -----------------
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_full_disk_is_never_acknowledged_and_not_retried_in_a_loop(root, tmp_path, daemons):
    """The watcher alone may not grow a file beyond 200 KiB (RLIMIT_FSIZE): its writes fail
    as on a full disk, while the commands' writes succeed."""
    many(root, "a", 5)
    index = str(tmp_path / "index.sqlite3")
    running = started(root, index, prefix=["prlimit", "--fsize=204800"])
    daemons.append(running)
    assert len(listing(index=index)) == 5
    big = "x" * 2000
    for number in range(500):  # ~1 MiB of rows: more than the index may hold
        write_session(
            root,
            "b",
            f"s{number:03d}",
            messages=[message("user", big + str(number))],
            status=big,
            title=big,
        )
    running.wait_for_log("could not apply changes", timeout=60)
    result = run("--index", index, "session", "list", "-f", "json")
    assert len(listed_ids(result)) == 505, result.stderr
    # Backing off, not spinning: over the next seconds the watcher stays mostly idle.
    before = cpu_seconds(running.process.pid)
    wait_until(lambda: False, timeout=3)
    assert cpu_seconds(running.process.pid) - before < 1.0
    record = watcher_record(index)
    assert record is not None and record.state == "failing"
    running.wait_for_log("reconciling the whole root in 2.0 s", timeout=30)  # a growing pause
    # Every command meanwhile refreshes by itself, without waiting for the failing watcher.
    write_session(root, "c", "new")
    result = run("-v", "--index", index, "session", "list", "-f", "json")
    assert len(listed_ids(result)) == 506 and "mofa-indexd confirmed" not in result.stderr


def test_names_that_are_not_utf8_break_nothing(root, index_path, daemons):
    daemons.append(started(root, index_path))
    write_session(root, "a", "good")
    bad_dir = os.path.join(os.fsencode(root), b"agent-\xff")
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, b"s.json"), "w") as handle:
        json.dump({"messages": []}, handle)
    with open(os.path.join(os.fsencode(root), b"a", b"bad-\xfe.json"), "w") as handle:
        json.dump({"messages": []}, handle)
    write_session(root, "a", "after", created_at="2025-01-01T00:00:00Z")
    assert listing() == ["a:good", "a:after"]
    result = run("-v", "session", "list")
    assert "mofa-indexd confirmed" in result.stderr
    assert "could not apply" not in daemons[0].drain()


# -- item 8: a change made through another hard link ---------------------------------------
def test_a_change_through_a_hard_link_outside_the_root(root, tmp_path, index_path, daemons):
    path = write_session(root, "a", "linked", messages=[message("user", "one")])
    outside = tmp_path / "elsewhere.json"
    os.link(path, outside)
    daemons.append(started(root, index_path))
    assert run("session", "list", "-f", "json").stdout.count('"message_count": 1') == 1
    for count in range(2, 6):
        document = json.loads(outside.read_text())
        document["messages"].append(message("assistant", f"reply {count}"))
        with open(outside, "r+") as handle:  # in place, through the other name
            handle.write(json.dumps(document))
        result = run("-v", "session", "list", "-f", "json")
        assert [item["message_count"] for item in json.loads(result.stdout)] == [count]
        assert "mofa-indexd confirmed" in result.stderr


# -- item 9: the root removed and recreated, or renamed -----------------------------------
@pytest.mark.parametrize("how", ["recreated", "renamed"])
def test_root_replaced_under_the_watcher(root, tmp_path, index_path, daemons, how):
    many(root, "a", 2)
    running = started(root, index_path)
    daemons.append(running)
    if how == "recreated":
        shutil.rmtree(root)
    else:
        os.rename(root, tmp_path / "moved-away")
    root.mkdir()
    write_session(root, "b", "fresh")
    assert listing() == ["b:fresh"]
    running.wait_for_log("re-attaching")
    running.wait_for_count("watching", 2)
    write_session(root, "b", "fresher", created_at="2025-01-01T00:00:00Z")
    result = run("-v", "session", "list", "-f", "json")
    assert listed_ids(result) == ["b:fresh", "b:fresher"]
    assert "mofa-indexd confirmed" in result.stderr


def test_while_the_root_is_gone_commands_do_not_wait_for_it(root, index_path, daemons):
    running = started(root, index_path)
    daemons.append(running)
    shutil.rmtree(root)
    running.wait_for_log("re-attaching")
    assert wait_until(
        lambda: (
            (watcher_record(index_path) or None) and watcher_record(index_path).state == "detached"
        )
    )
    root.mkdir()
    write_session(root, "a", "s")
    # The command sees a record naming another root (or none attached): it refreshes at once.
    assert listing() == ["a:s"]
    assert wait_until(
        lambda: (
            (watcher_record(index_path) or None) and watcher_record(index_path).state == "answering"
        )
    )
    assert "mofa-indexd confirmed" in run("-v", "session", "list").stderr


# -- also: timestamps, SIGHUP --------------------------------------------------------------
def test_log_lines_carry_utc_timestamps_and_sighup_stops_it(root, index_path):
    import re

    running = started(root, index_path)
    assert running.stop(signal.SIGHUP) == 0
    lines = running.drain().splitlines()
    assert lines and all(
        re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mofa-indexd: ", line) for line in lines
    ), lines
    assert "received SIGHUP; stopped" in "\n".join(lines)
