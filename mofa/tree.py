"""Walking the sessions root: which directories hold sessions and which files are sessions.

Hidden names, symlinks, temporary files and other extensions are never sessions.
"""

from __future__ import annotations

import errno
import os
from stat import S_ISDIR, S_ISREG
from typing import NamedTuple

from mofa.errors import SessionPermissionError, StoreError
from mofa.session import JSON_SUFFIX, JSONL_SUFFIX


class FileStat(NamedTuple):
    """A session file's name in its directory and the stat fields that reveal a change."""

    name: str
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int


class RootListing(NamedTuple):
    agents: list[str]
    jsonl: list[FileStat]


def _os_failure(error: OSError, what: str) -> Exception:
    if error.errno in (errno.EACCES, errno.EPERM):
        return SessionPermissionError(f"permission denied: {what}")
    return StoreError(f"cannot read {what}: {error.strerror or error}")


def scan_root(root: str) -> RootListing:
    """Agent directories and MoFA `.jsonl` files directly under the root (a missing root is empty)."""
    agents: list[str] = []
    jsonl: list[FileStat] = []
    try:
        iterator = os.scandir(root)
    except FileNotFoundError:
        return RootListing(agents, jsonl)
    except OSError as error:
        raise _os_failure(error, root) from None
    with iterator:
        for entry in iterator:
            name = entry.name
            if name[0] == ".":
                continue
            if name.endswith(JSONL_SUFFIX):
                stat = _regular_stat(entry)
                if stat:
                    jsonl.append(stat)
            elif entry.is_dir(follow_symlinks=False):
                agents.append(name)
    return RootListing(agents, jsonl)


def _regular_stat(entry: os.DirEntry) -> FileStat | None:
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not S_ISREG(st.st_mode):
        return None
    return FileStat(entry.name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def scan_agent_dir(directory: str) -> list[FileStat] | None:
    """The `.json` session files of one agent directory; None when the directory is gone.

    Raises SessionPermissionError or StoreError when it exists but cannot be read.
    """
    found: list[FileStat] = []
    append = found.append
    try:
        iterator = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise _os_failure(error, directory) from None
    with iterator:
        for entry in iterator:
            name = entry.name
            if name[0] != "." and name.endswith(JSON_SUFFIX):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if S_ISREG(st.st_mode):
                    append(FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns))
    return found


def is_agent_dir(path: str) -> bool:
    try:
        return S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def regular_file_stat(path: str) -> os.stat_result | None:
    """lstat of a path when it is a regular file (not a symlink), else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if S_ISREG(st.st_mode) else None
