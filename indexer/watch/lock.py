"""One `mofa-indexd` per index: an exclusive flock on `<index>.indexd`, which holds its pid.

After the pid, the file holds the watcher's record: the identities (st_dev, st_ino) of the
root and the index file it watches and writes, the epoch of that index, and whether it can
answer handshakes. Commands read it to skip a handshake that cannot succeed, and to ask before
they open the index (the handshake's cookie stays the proof).
"""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import fcntl
import os
from typing import NamedTuple

from indexer.index.private import open_own_file

ANSWERING = "answering"
STARTING = "starting"  # catching up with its root (the reconcile at start): it answers after
DETACHED = "detached"  # its root is gone, or is another directory now
FAILING = "failing"  # its last write to the index failed


class WatcherRecord(NamedTuple):
    pid: int
    root: tuple[int, int] | None
    index_file: tuple[int, int] | None  # the index's (st_dev, st_ino)
    state: str
    idle_exit: float | None = None  # set when a command started it: it exits after so long idle
    epoch: str | None = None  # the epoch of the index it writes (indexer.index.database.epoch)

    def may_answer(self, root: tuple[int, int] | None, index: tuple[int, int] | None) -> bool:
        return self.state == ANSWERING and self.root == root and self.index_file == index

    def line(self) -> str:
        def pair(identity):
            return f"{identity[0]}:{identity[1]}" if identity else "-"

        started = f" idle-exit={self.idle_exit:g}" if self.idle_exit is not None else ""
        epoch = f" epoch={self.epoch}" if self.epoch else ""
        return (
            f"{self.pid} root={pair(self.root)} index={pair(self.index_file)} state={self.state}"
            f"{started}{epoch}\n"
        )


def _parse_record(text: str) -> WatcherRecord | None:
    fields = text.split()
    if len(fields) not in (4, 5, 6) or not fields[0].isdigit():
        return None
    values = dict(field.partition("=")[::2] for field in fields[1:])
    try:
        idle_exit = float(values["idle-exit"]) if "idle-exit" in values else None
    except ValueError:
        return None

    def pair(value):
        dev, _, ino = (value or "").partition(":")
        return (int(dev), int(ino)) if dev.isdigit() and ino.isdigit() else None

    epoch = values.get("epoch") or None
    if epoch is not None and not epoch.isalnum():
        return None
    return WatcherRecord(
        int(fields[0]),
        pair(values.get("root")),
        pair(values.get("index")),
        values.get("state", ""),
        idle_exit,
        epoch,
    )


class AlreadyRunning(Exception):
    """Another mofa-indexd holds the lock of this index."""

    def __init__(self, pid: int | None):
        self.pid = pid
        super().__init__(f"another mofa-indexd (pid {pid or 'unknown'}) already watches this root")


def lock_path(index_path: str) -> str:
    return index_path + ".indexd"


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").split()
        return int(text[0]) if text and text[0].isdigit() else None
    except OSError:
        return None


def _if_held(index_path: str, read):
    """`read(fd)` of the lock file while a mofa-indexd holds it (our shared lock would block),
    else None: none runs, or the file is not there."""
    try:
        fd = os.open(lock_path(index_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def running_pid(index_path: str) -> int | None:
    """The pid of the mofa-indexd that watches with this index, or None when none does."""
    return _if_held(index_path, lambda fd: _read_pid(fd) or -1)


def watcher_record(index_path: str) -> WatcherRecord | None:
    """The record of the running mofa-indexd of this index; None when none runs or it has
    written no record (yet)."""
    return _if_held(
        index_path, lambda fd: _parse_record(os.pread(fd, 256, 0).decode("ascii", "replace"))
    )


class DaemonLock:
    """Held for the daemon's whole life; released by the kernel if it dies."""

    def __init__(self, index_path: str):
        self.path = lock_path(index_path)
        self.fd: int | None = None

    def acquire(self) -> None:

        # Truncated below: never a file reached through a symlink or that is not this user's.
        fd = open_own_file(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def record(self, record: WatcherRecord) -> None:
        """Publish the watcher's state (one short write: a reader sees the old or new line,
        or a torn one it cannot parse and ignores)."""
        if self.fd is not None:
            line = record.line().encode()
            os.pwrite(self.fd, line.ljust(max(len(line), 128)), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
