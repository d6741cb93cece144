"""Opening the index: WAL, a busy timeout, migrations, and rebuilding a broken index.

The index is disposable: a file that is not a database, is corrupt, is of an unknown schema
version or belongs to another root is replaced by an empty index, which the next refresh fills
from the session files.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Callable

from indexer.index.location import MEMORY
from indexer.index.private import create_private_file, make_private_dirs
from indexer.watch.lock import running_pid
from mofa.errors import IndexUnavailable, RefusedPath

BUSY_TIMEOUT_S = 60.0
# The version of the last migration (indexer.index.migrations.LATEST_VERSION, which a test holds
# equal): an index already at it opens without importing the migrations.
SCHEMA_VERSION = 8


class UnknownSchemaVersion(Exception):
    """The index was written by a newer (or foreign) program."""


_CORRUPTION_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def _unavailable(message: str) -> Exception:

    return IndexUnavailable(message)


def is_corruption(error: BaseException) -> bool:
    if isinstance(error, UnknownSchemaVersion):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _CORRUPTION_CODES:
        return True
    text = str(error)
    return "malformed" in text or "not a database" in text or "no such table" in text


def _refuse_a_root_not_utf8(root: str) -> None:
    """The index holds the root and every session's path as UTF-8 text: a root whose path is
    not valid UTF-8 cannot be indexed (it failed as an internal error midway)."""
    try:
        root.encode("utf-8")
    except UnicodeEncodeError:
        shown = root.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise RefusedPath(
            f"the sessions root {shown} is not valid UTF-8: its sessions cannot be"
            " indexed (rename it)"
        ) from None


def _connect(path: str, root: str) -> sqlite3.Connection:
    root = os.path.realpath(root)  # one root, however it is named (a symlink, a relative path)
    if not root.isascii():
        _refuse_a_root_not_utf8(root)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        if path != MEMORY:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            from indexer.index.migrations import migrate

            migrate(conn)  # raises UnknownSchemaVersion for a newer schema
        owner = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        if owner is None or owner[0] != root or epoch(conn) is None:
            if owner is not None and owner[0] != root and path != MEMORY:
                _refuse_a_watched_index(path, owner[0])
            _adopt(conn, root)
    except BaseException:
        conn.close()
        raise
    return conn


def epoch(conn: sqlite3.Connection) -> str | None:
    """The token an index gets when it is made the index of its root: a watcher vouches for
    an index only while its epoch is the one it filled (a file emptied, replaced or adopted
    by another root under it has another)."""
    # fetchall: a statement left unfinished would hold its read snapshot open, and every later
    # query on the connection would see the index as it was then.
    rows = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchall()
    return rows[0][0] if rows else None


def _refuse_a_watched_index(path: str, owner: str) -> None:
    """Adopting an index empties it: never under the running watcher of its root (two roots
    sharing MOFA_INDEX_PATH, or one root reached through a bind mount, would otherwise empty
    each other's index in turn)."""

    pid = running_pid(path)
    if pid is not None and pid != os.getpid():
        raise _unavailable(
            f"the index {path} is the index of {owner}, kept current by mofa-indexd (pid {pid})"
        )


def _adopt(conn: sqlite3.Connection, root: str) -> None:
    """Make the index the (empty) index of `root`: rows of another root must never show."""
    from indexer.index.transactions import write_transaction

    with write_transaction(conn):
        owner = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        if owner is None or owner[0] != root:
            for table in ("sessions", "bad_files", "dirs"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('root', ?)", (root,))
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('epoch', ?)",
                (os.urandom(8).hex(),),
            )
        elif epoch(conn) is None:  # an index made before epochs: its rows are this root's
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('epoch', ?)",
                (os.urandom(8).hex(),),
            )


def remove_index_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def open_index(
    path: str, root: str, notice: Callable[[str], None] | None = None
) -> sqlite3.Connection:
    """A ready connection to the index of `root` at `path`, rebuilt when it is broken.

    Raises IndexUnavailable when no index can be kept at `path` at all.
    """
    if path == MEMORY:
        return _connect(path, root)
    directory = os.path.dirname(path)
    if not os.path.isdir(
        directory
    ):  # (indexer.index.private is imported only when something is made)
        try:
            make_private_dirs(directory)
        except OSError as error:
            raise _unavailable(
                f"cannot create the index directory {directory}: {error.strerror or error}"
            ) from None
    fence = _fence(path, fcntl.LOCK_SH)
    try:
        if not os.path.exists(path):
            create_private_file(path)
        return _connect(path, root)
    except (sqlite3.DatabaseError, UnknownSchemaVersion) as error:
        if not is_corruption(error):
            raise _unavailable(f"cannot open the index {path}: {error}") from None
        reason = str(error)
    except OSError as error:
        raise _unavailable(f"cannot open the index {path}: {error.strerror or error}") from None
    finally:
        if fence is not None:
            os.close(fence)
    return _replace_broken(path, root, reason, notice)


def _fence(path: str, how: int) -> int | None:
    """`<path>.lock`, locked `how`: shared while a process opens the index (SQLite opens the
    file, its -wal and its -shm one by one), exclusive while one replaces the three, so that
    no opener pairs a new index file with the old one's -wal (an index that lists its
    directories as read but holds none of their sessions). None when no lock can be made (a
    read-only cache): the files are then opened as they are."""
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, how)
    except BaseException:
        os.close(fd)
        raise
    return fd


def replace_broken_index(path: str, root: str, reason: str) -> sqlite3.Connection:
    """A new, empty index at `path` in place of one found corrupt while in use."""
    return _replace_broken(path, root, reason, None, force=True)


def replace_index_file(path: str, root: str) -> None:
    """Remove the index file at `path` and make a new, empty one (for a file found overwritten
    or emptied in place, which SQLite may go on reading from its WAL without noticing)."""
    _replace_broken(path, root, "overwritten in place", None, force=True).close()


def _replace_broken(path, root, reason, notice, force: bool = False) -> sqlite3.Connection:
    # One process at a time replaces the file, and only if it is still broken when its turn
    # comes: another process may have rebuilt it meanwhile.
    lock = _fence(path, fcntl.LOCK_EX)
    if lock is None:
        raise _unavailable(f"cannot lock the index {path}")
    try:
        if not force:
            try:
                return _connect(path, root)
            except (sqlite3.DatabaseError, UnknownSchemaVersion) as error:
                if not is_corruption(error):
                    raise _unavailable(f"cannot open the index {path}: {error}") from None
        if notice:
            notice(
                f"the index {path} was unusable ({reason}); rebuilding it from the session files"
            )
        remove_index_files(path)
        try:
            create_private_file(path)
            return _connect(path, root)
        except (sqlite3.Error, OSError) as error:
            raise _unavailable(f"cannot create the index {path}: {error}") from None
    finally:
        os.close(lock)


def index_size(path: str) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(path + suffix).st_size
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise
    return total
