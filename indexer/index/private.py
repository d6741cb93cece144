"""The index's files are as private as the sessions they copy: directories made 0700, files
0600 whatever the umask, and a watcher's own files (lock, log) never reached through a
symlink nor taken over from another user (a file planted in a shared directory)."""

from __future__ import annotations

import errno
import os
import stat

DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafeIndexFile(OSError):
    """A path where the index keeps a file of its own holds a symlink, something that is not a
    regular file, another user's file, or a file with other links: it is not used."""

    def __init__(self, path: str, why: str):
        super().__init__(errno.EPERM, f"{path} {why}; refusing to use it (remove it)")


def make_private_dirs(directory: str) -> None:
    """`directory` and each missing parent, made 0700 (existing ones are left as they are)."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


def create_private_file(path: str) -> None:
    """Make `path` an empty 0600 file if nothing is there (SQLite would make it 0644 under
    the usual umask, and gives its -wal and -shm the mode of the database file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    except FileExistsError:
        pass


def open_own_file(path: str, flags: int) -> int:
    """A descriptor of the file at `path` (created 0600 when missing), opened with `flags`
    without following a symlink, and only if it is a regular file of this user with no other
    link: one that may be truncated or written without harming anything else."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeIndexFile(path, "is a symlink") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeIndexFile(path, "is not a regular file")
        if st.st_uid != os.geteuid():
            raise UnsafeIndexFile(path, "belongs to another user")
        if st.st_nlink != 1:
            raise UnsafeIndexFile(path, "has other hard links")
    except BaseException:
        os.close(fd)
        raise
    return fd
