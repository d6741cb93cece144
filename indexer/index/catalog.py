"""The index files kept in the user's cache directory, one per sessions root: which root each
serves, how big it is, whether that root still exists; removing those of roots that are gone,
and stopping a root's watcher (`mofa session index status --all | clean | stop`)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from indexer.index.database import remove_index_files
from indexer.index.location import cache_home, root_lock_path
from indexer.watch.autostart import log_path
from indexer.watch.lock import lock_path, running_pid
from mofa.stores.results import CachedIndex

SUFFIX = ".sqlite3"


def index_directory(environ=os.environ) -> str:
    return os.path.join(cache_home(environ), "mofa", "index")


def _files_of(path: str) -> list[str]:
    """Every file that belongs to the index at `path`: the database, its journals, the
    watcher's lock and log, and the lock its openers and repairers take."""
    return [path + suffix for suffix in ("", "-wal", "-shm", "-journal")] + [
        lock_path(path),
        log_path(path),
        path + ".lock",
    ]


def _size(path: str) -> int:
    total = 0
    for name in _files_of(path):
        try:
            total += os.lstat(name).st_size
        except OSError:
            pass
    return total


def _recorded_root(path: str) -> str | None:
    """The root an index file records, read without writing anything (not even a journal)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return row[0] if row and isinstance(row[0], str) else None


def cached_indexes(environ=os.environ) -> list[CachedIndex]:
    """The index files of the cache directory, by path."""
    directory = index_directory(environ)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(directory, name)
        if not name.endswith(SUFFIX) or name.startswith(".") or not os.path.isfile(path):
            continue
        root = _recorded_root(path)
        found.append(
            CachedIndex(
                path,
                root,
                root is not None and os.path.isdir(root),
                _size(path),
                running_pid(path),
            )
        )
    return found


def remove_cached_index(entry: CachedIndex) -> None:
    """Remove every file of an index whose root is gone; a watched one is left alone."""
    if running_pid(entry.path) is not None:
        return
    remove_index_files(entry.path)
    for name in _files_of(entry.path)[4:]:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
    for name in (entry.path + ".root", lock_path(entry.path + ".root")):  # the root's own lock
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def stop_watcher(root: str, index_path: str, timeout: float = 10.0) -> int | None:
    """Stop the mofa-indexd watching `root` (with this index, or any other): SIGTERM, then wait
    for it to let go of its lock. Returns its pid, None when none ran; raises TimeoutError
    when it is still running after `timeout` seconds."""
    locks = (index_path, root_lock_path(root))
    pid = next((p for p in map(running_pid, locks) if p is not None), None)
    if pid is None:
        return None
    if pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return pid
    deadline = time.monotonic() + timeout
    while any(running_pid(lock) is not None for lock in locks):
        if time.monotonic() > deadline:
            raise TimeoutError(pid)
        time.sleep(0.05)
    return pid
