"""How fast a command hears mofa-indexd's answer: the command looks for it often at
first, the watcher is woken by the one event a cookie makes and not by every reader of a
session file. Real files, a real watcher; no wall-clock assertion."""

import os
import signal

from indexer.watch import handshake
from indexer.watch.lock import watcher_record
from tests.daemon_helpers import RunningDaemon
from tests.helpers import write_session

IN_CLOSE_NOWRITE = 0x10
IN_OPEN = 0x20
IN_CREATE = 0x100
IN_DELETE = 0x200


def test_the_command_looks_for_the_answer_within_a_tenth_of_a_millisecond(tmp_path, monkeypatch):
    root = tmp_path / "cookie-root"
    root.mkdir()
    index_path = tmp_path / "cookie-index.sqlite3"
    index_path.write_bytes(b"")  # confirm() needs the index file's identity, nothing more
    pauses = []

    def sleep(seconds):  # the "watcher": answers (deletes the cookie) at the third look
        pauses.append(seconds)
        if len(pauses) == 3:
            for name in os.listdir(root):
                if handshake.is_cookie(name):
                    os.unlink(root / name)

    monkeypatch.setattr(handshake.time, "sleep", sleep)
    waited = handshake.confirm(str(root), str(index_path), "an-epoch", timeout=60)
    assert waited is not None
    assert len(pauses) == 3
    assert all(pause <= 0.0001 for pause in pauses), pauses
    assert not os.listdir(root)


def test_a_cookie_is_made_without_being_opened(tmp_path, monkeypatch):
    """An empty cookie made by mknod: the watcher hears one event, not create, open, close."""
    root = tmp_path / "cookie-root"
    root.mkdir()
    index_path = tmp_path / "cookie-index.sqlite3"
    index_path.write_bytes(b"")
    opened = []
    real_open = os.open

    def spy_open(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    def sleep(seconds):
        for name in os.listdir(root):
            assert os.stat(root / name).st_size == 0
            os.unlink(root / name)

    monkeypatch.setattr(handshake.os, "open", spy_open)
    monkeypatch.setattr(handshake.time, "sleep", sleep)
    assert handshake.confirm(str(root), str(index_path), "an-epoch", timeout=60) is not None
    assert not [path for path in opened if handshake.COOKIE_PREFIX in path]


def inotify_masks(pid: int) -> list[int]:
    """The event mask of every inotify watch the process holds (/proc/PID/fdinfo)."""
    masks = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if "inotify" not in os.readlink(f"/proc/{pid}/fd/{fd}"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                for line in info:
                    if line.startswith("inotify wd:"):
                        fields = dict(
                            field.split(":", 1) for field in line.split()[1:] if ":" in field
                        )
                        masks.append(int(fields["mask"], 16))
        except FileNotFoundError:
            continue
    return masks


def test_the_watcher_is_not_woken_by_readers(root, index_path):
    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        masks = inotify_masks(daemon.process.pid)
        assert len(masks) == 2  # the root and agent a
        for mask in masks:
            assert mask & IN_CREATE and mask & IN_DELETE  # what the watcher follows
            assert not mask & (IN_OPEN | IN_CLOSE_NOWRITE), hex(mask)  # what it does not
    finally:
        assert daemon.stop(signal.SIGTERM) == 0


def test_a_command_asks_before_it_opens_the_index_and_checks_what_it_opened(
    root, index_path, tmp_path
):
    """The cookie is made before SQLite is even imported, naming the epoch the watcher's record
    publishes; the answer counts only for an index whose file and epoch are the ones named."""
    import shutil

    from indexer.index.session_index import open_session_index

    write_session(root, "a", "s")
    daemon = RunningDaemon(root, index_path)
    try:
        daemon.wait_for_log("watching")
        question = handshake.ask(str(root), str(index_path), watcher_record(str(index_path)))
        assert question is not None and question.cookie.epoch  # the record names the epoch
        index = open_session_index(str(root), str(index_path), lambda text: None)
        try:
            assert handshake.answer(question, index, timeout=30) is not None
        finally:
            index.close()
        # An index that is not the one the cookie names (here a copy: another file, though
        # with the same epoch) is not vouched for, and the question leaves nothing behind.
        copy = tmp_path / "copy.sqlite3"
        shutil.copy(index_path, copy)
        question = handshake.ask(str(root), str(index_path), watcher_record(str(index_path)))
        other = open_session_index(str(root), str(copy), lambda text: None)
        try:
            assert handshake.answer(question, other, timeout=30) is None
        finally:
            other.close()
        assert not [name for name in os.listdir(root) if name.startswith(".mofa-")]
    finally:
        assert daemon.stop(signal.SIGTERM) == 0


def test_the_watcher_says_it_is_catching_up_until_its_reconcile_is_done(root, index_path):
    """The reconcile at start can take seconds on a big root (the first command after an
    auto-start): the watcher's record says "starting" all the while (a real IndexDaemon, its
    real observer and index; the reconcile spied on)."""
    from indexer.watch.daemon import IndexDaemon

    write_session(root, "a", "s")

    class Records:
        def __init__(self):
            self.states = []

        def record(self, record):
            self.states.append(record.state)

    records = Records()
    daemon = IndexDaemon(str(root), str(index_path), lock=records)
    seen_at_reconcile = []
    reconcile = daemon._reconcile

    def spied():
        seen_at_reconcile.append(list(records.states))
        reconcile()
        daemon.stop()

    daemon._reconcile = spied
    daemon.run()
    assert seen_at_reconcile == [["starting"]]
    assert records.states == ["starting", "answering"]


def test_a_command_does_not_wait_for_a_watcher_that_is_catching_up(root, index_path):
    """It refreshes by itself at once, and says why (-v)."""
    import json

    from indexer.watch.handshake import file_identity
    from indexer.watch.lock import DaemonLock, WatcherRecord
    from tests.helpers import run_installed

    write_session(root, "a", "s")
    assert run_installed("session", "list").returncode == 0  # the index exists
    lock = DaemonLock(str(index_path))  # this process plays the watcher that holds the lock
    lock.acquire()
    try:
        lock.record(
            WatcherRecord(
                os.getpid(),
                file_identity(str(root)),
                file_identity(str(index_path)),
                "starting",
                None,
                "0123456789abcdef",
            )
        )
        write_session(root, "a", "t")
        result = run_installed("-v", "session", "list", "--output-format", "json")
        assert result.returncode == 0, result.stderr
        assert [row["session_id"] for row in json.loads(result.stdout)] == ["a:s", "a:t"]
        assert (
            "mofa-indexd is catching up with the root; refreshing from the files" in result.stderr
        )
        assert not [name for name in os.listdir(root) if name.startswith(".mofa-")]  # no cookie
    finally:
        lock.release()


def test_the_root_digest_is_the_same_in_every_process_and_tells_roots_apart(tmp_path):
    """The command and mofa-indexd each compute it (no per-process hash seed may enter it)."""
    import subprocess
    import sys

    from indexer.watch.handshake import root_digest

    first, second, link = tmp_path / "first", tmp_path / "second", tmp_path / "link"
    first.mkdir()
    second.mkdir()
    link.symlink_to(first)
    elsewhere = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from indexer.watch.handshake import root_digest;"
            " print(root_digest(sys.argv[1]))",
            str(first),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "random", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert elsewhere == root_digest(str(first)) == root_digest(str(link))
    assert root_digest(str(second)) != root_digest(str(first))
    assert len(elsewhere) == 16 and int(elsewhere, 16) >= 0
