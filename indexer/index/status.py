"""What `mofa session index status` reports."""

from __future__ import annotations

from datetime import UTC, datetime

from indexer.index.database import index_size
from indexer.index.migrations import schema_version
from indexer.index.search_build import search_state
from indexer.watch.lock import running_pid, watcher_record
from mofa import tree


def count_session_files(root: str) -> int:
    """Session files on disk (an agent directory that cannot be read counts none)."""
    return sum(len(files) for _, files in tree.session_files(root, skipped=[]))


def index_status(index, root: str, index_path: str) -> dict:
    last = index.meta("last_refresh")
    return {
        "index": index_path if not index.in_memory else None,
        "sessions_root": root,
        "schema_version": schema_version(index.conn),
        "sessions_indexed": index.count(),
        "unreadable_files": index.count("bad_files"),
        "files_on_disk": count_session_files(root),
        "last_refresh": (
            datetime.fromtimestamp(float(last), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            if last
            else None
        ),
        "index_size_bytes": index_size(index_path) if not index.in_memory else 0,
        **watcher_state(index, root, index_path),
        "search_data": search_state(
            index.conn, None if index.in_memory else running_pid(index_path)
        )._asdict(),
    }


def watcher_state(index, root: str, index_path: str) -> dict:
    """Whether a mofa-indexd watches this root, and how long it takes to catch up with now:
    the time it takes to acknowledge a handshake cookie, having applied every earlier change."""
    from indexer.watch.handshake import confirm_index

    pid = running_pid(index_path)
    if pid is None:
        return {"watcher_pid": None, "watcher_started_by": None, "watcher_caught_up_ms": None}
    record = watcher_record(index_path)
    if record is not None and record.idle_exit is not None:
        started_by = f"a command (auto-start; exits after {record.idle_exit:g} s without commands)"
    else:
        started_by = "a user (runs until stopped)"
    waited = confirm_index(root, index)
    return {
        "watcher_pid": pid,
        "watcher_started_by": started_by,
        "watcher_caught_up_ms": None if waited is None else round(waited * 1000, 1),
    }
