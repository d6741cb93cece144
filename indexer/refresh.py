"""Bringing the index up to date with the files, re-reading only what changed.

Each directory that holds sessions (an agent's directory, or the root for MoFA's `.jsonl`
files, stored as dir '') has a digest of the stat of its session files. A refresh stats the
files of the directories it needs; when the digest matches the stored one nothing changed and
nothing is read. Otherwise it compares each file's (size, mtime_ns, inode, ctime_ns) with its
row and parses only the files that differ, then writes the directory in one short
transaction, re-scanning under the write lock so it never writes an older view over a newer.

File times are coarse (one clock tick): a file changed again within the tick in which it was
scanned keeps its stat. As git does with its "racily clean" entries, a file or directory whose
ctime is that recent is not trusted: its row and digest are stored so that the next refresh
looks again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

from mofa import tree
from mofa.errors import CorruptSession, SessionNotFound, SessionPermissionError, StoreError
from mofa.store import load_path

RACY_NS = 100_000_000
PARALLEL_THRESHOLD = 2_000
Progress = Callable[[int, int], None]


class Parsed(NamedTuple):
    """A file read at `stat`: `row` for a session, else `error` (None for both when it vanished)."""

    stat: tuple
    row: tuple | None
    error: str | None


class RefreshResult(NamedTuple):
    changed: int
    warnings: list[str]


def stat_key(stat: tree.FileStat) -> tuple:
    return (stat.size, stat.mtime_ns, stat.ino, stat.ctime_ns)


def dir_digest(dir_stat: os.stat_result | None, files: list[tree.FileStat]) -> int:
    """An order-free digest of a directory and the stat of its session files.

    Names are left out: adding, removing or renaming an entry changes the directory's own
    mtime and ctime, which are in.
    """
    total = len(files)
    if dir_stat is not None:
        total += hash((dir_stat.st_ino, dir_stat.st_mtime_ns, dir_stat.st_ctime_ns))
    for stat in files:
        total += hash((stat.size, stat.mtime_ns, stat.ino, stat.ctime_ns))
    return total & 0x7FFF_FFFF_FFFF_FFFF


def parse_one(root: str, directory: str, stat: tree.FileStat) -> Parsed:
    key = stat_key(stat)
    try:
        session = load_path(root, directory, stat)
    except SessionNotFound:
        return Parsed(key, None, None)
    except (CorruptSession, SessionPermissionError, StoreError) as error:
        return Parsed(key, None, str(error))
    summary = session.summary()
    row = (summary.session_id, summary.agent, summary.name, summary.created_at,
           summary.updated_at, summary.message_count, summary.status, summary.user_id,
           session.path, summary.layout, directory, stat.name)
    return Parsed(key, row, None)


def _parse_job(job):
    return job[1], job[2].name, parse_one(*job)


def parse_all(jobs: list, progress: Progress | None = None):
    """Yield (directory, file name, Parsed) for (root, directory, FileStat) jobs, in any order.

    Many files are parsed by a pool of forked processes: parsing is the cost of a cold build.
    """
    total = len(jobs)
    workers = min(os.cpu_count() or 1, 4)
    if total < PARALLEL_THRESHOLD or workers < 2:
        results = map(_parse_job, jobs)
        pool = None
    else:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(workers)
        results = pool.imap_unordered(_parse_job, jobs, chunksize=256)
    try:
        for done, result in enumerate(results, 1):
            yield result
            if progress and (done % 256 == 0 or done == total):
                progress(done, total)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


class Refresher:
    """Refreshes the index of `root` through `conn` (an autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection, root: str, progress: Progress | None = None):
        self.conn = conn
        self.root = root
        self.progress = progress
        self.warnings: list[str] = []

    # -- scanning ------------------------------------------------------------------------
    def _dir_path(self, directory: str) -> str:
        return os.path.join(self.root, directory) if directory else self.root

    def _scan(self, directory: str):
        """(dir stat, session files) of one directory, (None, None) when it is gone."""
        path = self._dir_path(directory)
        try:
            dir_stat = os.stat(path)
            if directory:
                files = tree.scan_agent_dir(path)
            else:
                files = tree.scan_root(path).jsonl
        except FileNotFoundError:
            return None, None
        except (SessionPermissionError, StoreError, OSError) as error:
            self.warnings.append(f"{error}; its sessions are left out")
            return None, None
        if files is None:
            return None, None
        return dir_stat, files

    def _stored_digests(self) -> dict[str, int | None]:
        return dict(self.conn.execute("SELECT dir, digest FROM dirs"))

    def _stored_stats(self, directory: str) -> dict[str, tuple]:
        stats = {}
        for table in ("sessions", "bad_files"):
            for name, *key in self.conn.execute(
                f"SELECT file, size, mtime_ns, inode, ctime_ns FROM {table} WHERE dir = ?",
                (directory,),
            ):
                stats[name] = tuple(key)
        return stats

    # -- the refresh ---------------------------------------------------------------------
    def refresh(self, agent: str | None = None) -> RefreshResult:
        """Refresh what listing `agent` (or every agent) needs: its directory and the JSONL files."""
        listing = tree.scan_root(self.root)
        directories = [agent] if agent is not None else list(listing.agents)
        directories.append("")
        stored = self._stored_digests()
        if agent is None:
            on_disk = set(directories)
            directories.extend(sorted(d for d in stored if d not in on_disk))
        return self.refresh_dirs(directories, stored)

    def refresh_dirs(self, directories, stored=None, force: bool = False) -> RefreshResult:
        stored = self._stored_digests() if stored is None else stored
        stale = []
        for directory in directories:
            if directory and not _plain_name(directory):
                continue
            dir_stat, files = self._scan(directory)
            if files is None:
                if directory in stored or self._has_rows(directory):
                    stale.append((directory, {}))
                continue
            if not force and stored.get(directory) == dir_digest(dir_stat, files):
                continue
            stale.append((directory, {f.name: f for f in files}))
        parsed = self._parse_ahead(stale)
        changed = 0
        for directory, _ in stale:
            changed += self._apply(directory, parsed.get(directory, {}), force)
        return RefreshResult(changed, self.warnings)

    def _has_rows(self, directory: str) -> bool:
        return any(
            self.conn.execute(f"SELECT 1 FROM {table} WHERE dir = ? LIMIT 1", (directory,)).fetchone()
            for table in ("sessions", "bad_files")
        )

    def _parse_ahead(self, stale) -> dict[str, dict[str, Parsed]]:
        """Parse the changed files before taking the write lock (in parallel when many)."""
        jobs = []
        for directory, files in stale:
            rows = self._stored_stats(directory)
            jobs.extend(
                (self.root, directory, stat)
                for name, stat in files.items()
                if rows.get(name) != stat_key(stat)
            )
        results: dict[str, dict[str, Parsed]] = {}
        if not jobs:
            return results
        for directory, name, parsed in parse_all(jobs, self.progress):
            results.setdefault(directory, {})[name] = parsed
        return results

    def _apply(self, directory: str, parsed: dict[str, Parsed], force: bool) -> int:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = self._apply_locked(directory, parsed, force)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return changed

    def _apply_locked(self, directory: str, parsed: dict[str, Parsed], force: bool) -> int:
        conn = self.conn
        scan_start = time.time_ns()
        dir_stat, files = self._scan(directory)
        if files is None:
            removed = self._delete_dir(directory)
            conn.execute("DELETE FROM dirs WHERE dir = ?", (directory,))
            return removed
        digest = dir_digest(dir_stat, files)
        stored = conn.execute("SELECT digest FROM dirs WHERE dir = ?", (directory,)).fetchone()
        if not force and stored is not None and stored[0] == digest:
            return 0
        rows = self._stored_stats(directory)
        racy_after = scan_start - RACY_NS
        racy = dir_stat.st_ctime_ns >= racy_after
        replaced, sessions, bad = [], [], []
        for stat in files:
            key = stat_key(stat)
            rows_key = rows.pop(stat.name, None)
            if rows_key == key:
                continue
            result = parsed.get(stat.name)
            if result is None or result.stat != key:
                result = parse_one(self.root, directory, stat)
            if rows_key is not None:
                replaced.append(stat.name)
            if stat.ctime_ns >= racy_after:
                racy = True
                key = key[:3] + (-1,)  # never matches: the next refresh reads it again
            if result.row is not None:
                sessions.append(result.row + key)
            elif result.error is not None:
                bad.append((directory, stat.name, os.path.join(self._dir_path(directory), stat.name),
                            result.error, None) + key)
        replaced.extend(rows)  # what is left of the rows has no file any more
        self._delete_files(directory, replaced)
        for row in sessions:
            self._insert_session(row, bad)
        conn.executemany(
            "INSERT OR REPLACE INTO bad_files (dir, file, path, error, duplicate_of, size, mtime_ns,"
            " inode, ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", bad)
        conn.execute("INSERT OR REPLACE INTO dirs (dir, digest) VALUES (?, ?)",
                     (directory, None if racy else digest))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_refresh', ?)",
                     (str(time.time()),))
        return len(replaced) + len(sessions) + len(bad)

    def refresh_files(self, directory: str, names) -> int:
        """Refresh named files of one directory (what a watcher heard of), in one transaction.

        The directory's digest is cleared: it no longer describes the directory as scanned.
        """
        conn = self.conn
        dir_path = self._dir_path(directory)
        suffix = ".json" if directory else ".jsonl"
        conn.execute("BEGIN IMMEDIATE")
        try:
            scan_start = time.time_ns()
            gone, sessions, bad = [], [], []
            for name in names:
                if name.startswith(".") or not name.endswith(suffix):
                    continue
                st = tree.regular_file_stat(os.path.join(dir_path, name))
                row = conn.execute(
                    "SELECT size, mtime_ns, inode, ctime_ns FROM sessions WHERE dir = ? AND file = ?"
                    " UNION ALL SELECT size, mtime_ns, inode, ctime_ns FROM bad_files"
                    " WHERE dir = ? AND file = ?", (directory, name, directory, name)).fetchone()
                if st is None:
                    if row is not None:
                        gone.append(name)
                    continue
                stat = tree.FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                key = stat_key(stat)
                if row is not None and tuple(row) == key:
                    continue
                result = parse_one(self.root, directory, stat)
                if row is not None:
                    gone.append(name)
                if stat.ctime_ns >= scan_start - RACY_NS:
                    key = key[:3] + (-1,)
                if result.row is not None:
                    sessions.append(result.row + key)
                elif result.error is not None:
                    bad.append((directory, name, os.path.join(dir_path, name), result.error, None) + key)
            self._delete_files(directory, gone)
            for row in sessions:
                self._insert_session(row, bad)
            conn.executemany(
                "INSERT OR REPLACE INTO bad_files (dir, file, path, error, duplicate_of, size,"
                " mtime_ns, inode, ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", bad)
            conn.execute("INSERT OR REPLACE INTO dirs (dir, digest) VALUES (?, NULL)", (directory,))
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_refresh', ?)",
                         (str(time.time()),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(gone) + len(sessions) + len(bad)

    def _insert_session(self, row: tuple, bad: list) -> None:
        cursor = self.conn.execute(
            "INSERT INTO sessions (session_id, agent, name, created_at, updated_at, message_count,"
            " status, user_id, path, layout, dir, file, size, mtime_ns, inode, ctime_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (session_id) DO NOTHING", row)
        if cursor.rowcount == 0:
            other = self.conn.execute("SELECT path FROM sessions WHERE session_id = ?",
                                      (row[0],)).fetchone()
            bad.append((row[10], row[11], row[8],
                        f"{row[8]}: session id {row[0]!r} is also used by {other[0]}; left out",
                        row[0]) + row[12:])

    def _delete_files(self, directory: str, names: list[str]) -> None:
        if not names:
            return
        conn = self.conn
        pairs = [(directory, name) for name in names]
        ids = [row[0] for name in names for row in conn.execute(
            "SELECT session_id FROM sessions WHERE dir = ? AND file = ?", (directory, name))]
        conn.executemany("DELETE FROM sessions WHERE dir = ? AND file = ?", pairs)
        conn.executemany("DELETE FROM bad_files WHERE dir = ? AND file = ?", pairs)
        self._release_duplicates(ids)

    def _delete_dir(self, directory: str) -> int:
        conn = self.conn
        ids = [row[0] for row in conn.execute("SELECT session_id FROM sessions WHERE dir = ?",
                                              (directory,))]
        removed = conn.execute("DELETE FROM sessions WHERE dir = ?", (directory,)).rowcount
        removed += conn.execute("DELETE FROM bad_files WHERE dir = ?", (directory,)).rowcount
        self._release_duplicates(ids)
        return removed

    def _release_duplicates(self, ids: list[str]) -> None:
        """A file left out as a duplicate of a removed session gets its chance again."""
        conn = self.conn
        if not ids or conn.execute(
                "SELECT 1 FROM bad_files WHERE duplicate_of IS NOT NULL LIMIT 1").fetchone() is None:
            return
        for session_id in ids:
            for (directory,) in conn.execute(
                    "SELECT DISTINCT dir FROM bad_files WHERE duplicate_of = ?", (session_id,)).fetchall():
                conn.execute("UPDATE dirs SET digest = NULL WHERE dir = ?", (directory,))
            conn.execute("DELETE FROM bad_files WHERE duplicate_of = ?", (session_id,))


def _plain_name(directory: str) -> bool:
    return "/" not in directory and directory not in (".", "..")
