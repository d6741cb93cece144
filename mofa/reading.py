"""Reading session files: every reader (the files store, the index's refresh and cold build,
the mirror, the PostgreSQL MoFA tables, import) reads, parses, filters and ranks them here.

A session file a scan found is opened as the scan stat-ed it: never through a symlink, and
O_NONBLOCK so that a FIFO put in its place since does not block the open (its fstat then says
it is no regular file). O_NONBLOCK does nothing to a regular file's reads.
"""

from __future__ import annotations

import errno
import os
from stat import S_ISREG
from typing import TYPE_CHECKING

from mofa.errors import (
    CorruptSession,
    SessionChanged,
    SessionNotFound,
    SessionPermissionError,
    StoreError,
)
from mofa.ids import mofa_file_stem
from mofa.stores.rows import SessionFilter, SessionRow

if TYPE_CHECKING:
    from mofa import tree
    from mofa.session import Session

# Read-only, no link followed, no wait on a FIFO, no controlling terminal.
NO_FOLLOW_READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


def read_bytes(path: str, found: bool = False) -> bytes:
    """The bytes of the file at `path`. `found`: a session file a scan or lookup found as a
    regular file; anything else in its place since (a symlink, a FIFO, a device, a directory)
    is gone, as the next scan would say (SessionNotFound), never followed nor waited on."""
    return _read(path, found, False)[0]


def read_with_stat(
    path: str, found: bool = False, after: bool = True
) -> tuple[bytes, os.stat_result]:
    """`read_bytes`, and the stat of the file that was read (taken from its descriptor), once
    read, or with `after` False as it was opened."""
    return _read(path, found, after)


def _read(path: str, found: bool, stat_after: bool) -> tuple[bytes, os.stat_result]:
    # On a descriptor, without a file object: open, fstat, two reads and close, where open()
    # and a file object's read make 11 system calls (1,000 sessions exported: 6,000 fewer).
    from mofa import tree

    try:
        fd = os.open(path, NO_FOLLOW_READ if found else os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if found and not S_ISREG(st.st_mode):
                raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
            limit = tree.max_session_bytes()
            tree.check_size(path, st.st_size, limit)
            # Ask for the size, and only if the file grew since, for the rest up to the limit.
            data = _read_up_to(fd, st.st_size + 1)
            if len(data) > st.st_size:
                data += _read_up_to(fd, limit + 1 - len(data))
                tree.check_size(path, len(data), limit)
            return data, os.fstat(fd) if stat_after else st
        finally:
            os.close(fd)
    except FileNotFoundError:
        # A file the tree listed is gone since; a path the user gave never existed.
        raise SessionNotFound(
            f"session file vanished: {path}" if found else f"no such file: {path}"
        ) from None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: {path}") from None
    except IsADirectoryError:
        raise CorruptSession(path, "is a directory") from None
    except OSError as error:
        if found and error.errno in (errno.ELOOP, errno.ENXIO):  # a symlink, a socket
            raise SessionNotFound(f"session file vanished: {path}") from None
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def _read_up_to(fd: int, count: int) -> bytes:
    """At most `count` bytes, fewer only at the end of the file."""
    data = os.read(fd, count)
    if len(data) == count or not data:
        return data
    pieces = [data]
    count -= len(data)
    while count:
        piece = os.read(fd, count)
        if not piece:
            break
        pieces.append(piece)
        count -= len(piece)
    return b"".join(pieces)


def open_found(path: str):
    fd = os.open(path, NO_FOLLOW_READ)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def parse_file(
    layout: str, path: str, agent: str, name: str, data: bytes, mtime_ns: int, fast: bool = False
) -> Session:
    from mofa.layouts import parse_agent_json, parse_jsonl
    from mofa.session import JSON_LAYOUT, JSONL_SUFFIX

    if layout == JSON_LAYOUT:
        return parse_agent_json(path, agent, name, data, mtime_ns, fast)
    stem = os.path.basename(path)[: -len(JSONL_SUFFIX)]
    return parse_jsonl(path, stem, data, mtime_ns)


def load_path(
    root: str, directory: str, stat: tree.FileStat, fast: bool = False, unchanged: bool = False
) -> Session:
    """Parse one session file found by a scan (`directory` is '' for the root's JSONL files);
    `fast` when only its summary is wanted. `unchanged`: the file must still be the one `stat`
    describes (size, mtime, inode, ctime), else SessionChanged."""
    return load_path_stat(root, directory, stat, fast, unchanged)[0]


def load_path_stat(
    root: str, directory: str, stat: tree.FileStat, fast: bool = False, unchanged: bool = False
) -> tuple[Session, os.stat_result]:
    """`load_path`, and the stat of the file that was read (taken from its descriptor)."""
    from mofa.session import JSON_LAYOUT, JSON_SUFFIX, JSONL_LAYOUT

    path = os.path.join(root, directory, stat.name) if directory else os.path.join(root, stat.name)
    data, st = read_with_stat(path, True)
    if unchanged and (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) != tuple(stat[1:]):
        raise SessionChanged(f"session file changed since it was read: {path}")
    if directory:
        agent, name = directory, stat.name[: -len(JSON_SUFFIX)]
        return parse_file(JSON_LAYOUT, path, agent, name, data, stat.mtime_ns, fast), st
    return parse_file(JSONL_LAYOUT, path, "", "", data, stat.mtime_ns, fast), st


def row_of(session: Session) -> SessionRow:
    summary = session.summary()
    return SessionRow(*(getattr(summary, field) for field in SessionRow._fields))


def wide_row(row: SessionRow, session: Session):
    """`row` with the session's title, as `list --wide` shows it."""
    from mofa.stores.wide import WideRow

    return WideRow(*row, session.title)


def passes(row: SessionRow, wanted: SessionFilter, tags: list | None = None) -> bool:
    """Whether a row passes every filter of `wanted` but the limit (`tags`: the session's)."""
    if wanted.agent is not None and row.agent != wanted.agent:
        return False
    if wanted.since is not None and (row.created_at is None or row.created_at < wanted.since):
        return False
    if wanted.until is not None and (row.created_at is None or row.created_at >= wanted.until):
        return False
    if wanted.statuses and row.status not in wanted.statuses:
        return False
    if wanted.user is not None and row.user_id != wanted.user:
        return False
    if wanted.tags and not set(wanted.tags) <= set(tags or ()):
        return False
    return True


def newest(rows: list, limit: int | None, sort: str = "created") -> list:
    """Oldest first by created_at, or by last activity with `sort` "updated" (unknown first),
    ties by id; the `limit` newest."""
    if sort == "updated":
        from mofa.stores.wide import activity_key

        rows.sort(key=activity_key)
    else:
        rows.sort(key=lambda row: (row.created_at or "", row.session_id))
    return rows if limit is None else rows[max(len(rows) - limit, 0) :]


def claim_rank(session_id: str, per_agent: bool, file: str, path: str) -> tuple:
    """DESIGN "Session ids": of several files that claim one id, the one with the least rank
    wins. The per-agent file over a JSONL header; among JSONL files the one whose name (`file`)
    is the key's own file name; then the first `path` in byte order."""
    from mofa.session import JSONL_SUFFIX

    if per_agent:
        kind = 0
    elif file == mofa_file_stem(session_id) + JSONL_SUFFIX:
        kind = 1
    else:
        kind = 2
    return (kind, os.fsencode(path))


def session_claim(session: Session) -> tuple:
    """`claim_rank` of a parsed session's file."""
    from mofa.session import JSON_LAYOUT

    return claim_rank(
        session.session_id,
        session.layout == JSON_LAYOUT,
        os.path.basename(session.path),
        session.path,
    )


def duplicate_warning(dropped: str, kept: str, session_id: str) -> str:
    return f"{dropped}: session id {session_id!r} is also used by {kept}; left out"
