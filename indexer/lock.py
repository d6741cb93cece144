"""One `mofa-indexd` per index: an exclusive flock on `<index>.indexd`, which holds its pid."""

from __future__ import annotations

import fcntl
import os


class AlreadyRunning(Exception):
    """Another mofa-indexd holds the lock of this index."""

    def __init__(self, pid: int | None):
        self.pid = pid
        super().__init__(f"another mofa-indexd (pid {pid or 'unknown'}) already watches this root")


def lock_path(index_path: str) -> str:
    return index_path + ".indexd"


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def running_pid(index_path: str) -> int | None:
    """The pid of the mofa-indexd that watches with this index, or None when none does."""
    try:
        fd = os.open(lock_path(index_path), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class DaemonLock:
    """Held for the daemon's whole life; released by the kernel if it dies."""

    def __init__(self, index_path: str):
        self.path = lock_path(index_path)
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
