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

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

from indexer.build.freshness import RefreshResult, Survey, listed_directories, stored_state
from indexer.index.rows import (
    BadRow,
    IndexRow,
    StatKey,
    as_duplicate,
    clamp_int64,
    columns,
    insert_sql,
    row_claim,
    tags_text,
)
from indexer.index.transactions import bulk_write, write_transaction
from mofa import tree
from mofa.errors import CorruptSession, SessionNotFound, SessionPermissionError, StoreError
from mofa.reading import load_path
from mofa.session import JSON_SUFFIX, JSONL_SUFFIX

RACY_NS = 100_000_000
PARALLEL_THRESHOLD = 1_000
BIG_WRITE = 2_000
Progress = Callable[[int, int], None]


class Parsed(NamedTuple):
    """A file read at `stat`: `row` for a session, else `error` (None for both when it vanished)."""

    stat: StatKey
    row: IndexRow | None
    error: str | None


class Plan(NamedTuple):
    """One directory as scanned without the lock, and what differs from its rows."""

    directory: str
    generation: int | None
    scan_start: int
    dir_stat: os.stat_result | None
    scan: tree.DirScan | None  # None when the directory is gone
    digest: int | None
    todo: list
    gone: list


def stat_key(stat: tree.FileStat) -> StatKey:
    # An mtime set far beyond year 2262 does not fit SQLite's 64-bit integer: clamp it.
    return StatKey(stat.size, clamp_int64(stat.mtime_ns), stat.ino, stat.ctime_ns)


def parse_one(root: str, directory: str, stat: tree.FileStat) -> Parsed:
    key = stat_key(stat)
    try:
        session = load_path(root, directory, stat, fast=True)
    except SessionNotFound:
        return Parsed(key, None, None)
    except (CorruptSession, SessionPermissionError, StoreError) as error:
        return Parsed(key, None, str(error))
    summary = session.summary()
    tags = session.tags
    row = IndexRow(
        _text(summary.session_id),
        _text(summary.agent),
        _text(summary.name),
        summary.created_at,
        summary.updated_at,
        summary.message_count,
        _text(summary.status),
        _text(summary.user_id),
        tags_text(tags) if tags else None,
        _text(session.title),
        session.path,
        summary.layout,
        directory,
        stat.name,
        *key,
    )
    return Parsed(key, row, None)


def _text(value):
    """SQLite holds UTF-8: a lone surrogate (valid in JSON's \\u escapes) is kept as an escape."""
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _parse_jobs(batch):
    """Worker side: parse a batch of (root, directory, FileStat) jobs of one directory."""
    root, directory, stats = batch
    return [(stat[0], parse_one(root, directory, tree.FileStat(*stat))) for stat in stats]


PARSE_BATCH = 128


class FileParser:
    """Parses session files: in a pool of processes when there are many.

    Parsing is what a cold build costs; the pool is made once and kept for the whole refresh,
    and it is fed batches of files, so that few and small messages cross the pipes.

    The pool is concurrent.futures' ProcessPoolExecutor. A worker killed (kill -9, the OOM
    killer) breaks it: every batch not yet parsed then fails with BrokenProcessPool and is
    parsed here instead, as is every later one. A worker writes what it made to a file and
    sends back only the file's name, in one write shorter than PIPE_BUF: a worker killed while
    sending a long result would leave half a message in the result pipe, on which the pool's
    reading thread would wait for ever, and the pool would never be seen broken.
    """

    def __init__(self, root: str, progress: Progress | None = None, spare: int = 0):
        self.root = root
        self.progress = progress
        self.spare = spare  # CPUs left to this process: it has work of its own all along
        self.total = 0
        self.done = 0
        self._pool = None
        self._folder: str | None = None  # where the workers write what they made
        self._sent = 0  # batches handed to the pool: each one's file is named by its number
        self._abandoned = False  # the pool lost a worker: every batch is parsed here

    def parse(self, jobs: list):
        """Yield (directory, file name, Parsed) for (root, directory, FileStat) jobs, in order."""
        big = len(jobs) >= PARALLEL_THRESHOLD or (
            self.total >= PARALLEL_THRESHOLD and len(jobs) >= 16
        )
        if big and self.pool() is not None:
            batches = _batches(jobs)
            futures = [self.submit(_parse_jobs, batch) for batch in batches]
            results = (
                (batch[1], name, parsed)
                for batch, future in zip(batches, futures, strict=True)
                for name, parsed in self.collect(future, batch, _parse_jobs)
            )
        else:
            results = ((job[1], job[2].name, parse_one(*job)) for job in jobs)
        for result in results:
            # Counted before it is handed on: a consumer may stop pulling after the last one.
            self.done += 1
            if self.progress and (self.done % 256 == 0 or self.done == self.total):
                self.progress(self.done, max(self.total, self.done))
            yield result

    def pool(self):
        """The pool of parsing processes (made on first use), or None on a single CPU or once
        the pool lost a worker."""
        workers = os.cpu_count() or 1
        if workers < 2 or self._abandoned:
            return None
        if self._pool is None:
            import multiprocessing
            import tempfile
            import threading
            from concurrent.futures import ProcessPoolExecutor

            # Forking copies only the calling thread: in a process that runs others (the
            # watcher's), a child could inherit a lock one of them held and hang. There the
            # workers come from a single-threaded fork server instead. Named, not left to the
            # default, which Python 3.14 changed from fork to forkserver: a forked worker
            # starts at once with every module imported.
            method = "fork" if threading.active_count() == 1 else "forkserver"
            shm = "/dev/shm"  # memory: the results are read back at once
            place = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
            place = place or tempfile.gettempdir()
            _remove_left_results(place)
            self._folder = tempfile.mkdtemp(prefix=f"{_RESULTS}{os.getpid()}-", dir=place)
            self._pool = ProcessPoolExecutor(
                max(workers - self.spare, 1),
                mp_context=multiprocessing.get_context(method),
                initializer=_quiet_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def submit(self, parse, batch):
        """`parse(batch)` handed to the pool: its Future (of the name of the file holding the
        result, see collect), or None when there is no pool (or no longer one)."""
        from concurrent.futures.process import BrokenProcessPool

        pool = self.pool()
        if pool is None:
            return None
        self._sent += 1
        path = os.path.join(self._folder, str(self._sent))
        # The pool starts its workers and threads within submit: with SIGINT blocked, each
        # thread starts with it blocked (Ctrl-C is then handled by this one), and each worker
        # until it ignores it (_quiet_worker).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return pool.submit(_written, path, parse, batch)
        except BrokenProcessPool:  # a worker was killed since the last batch
            self._abandon()
            return None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def collect(self, future, batch, parse):
        """What the pool made of `batch` (`future` is submit's), or what `parse(batch)` makes of
        it here when the pool lost a worker: a worker killed takes its batch with it. The pool
        is then let go, and every later batch is parsed here too."""
        import pickle
        from concurrent.futures.process import BrokenProcessPool

        if future is None:  # not handed to the pool: it had lost a worker already
            return parse(batch)
        try:
            path = future.result()
        except BrokenProcessPool:
            self._abandon()
            return parse(batch)
        with open(path, "rb") as handle:
            data = handle.read()
        os.unlink(path)
        return pickle.loads(data)

    def _abandon(self) -> None:
        """Let the broken pool go: it has ended its workers; nothing of it is waited on."""
        self._abandoned = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "FileParser":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """End the pool: the batches not begun are dropped, the workers finish the ones they
        are on (a fraction of a second) and exit; their files are removed."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


_RESULTS = "mofa-parse-"  # then the pid of the process whose pool's results it holds


def _remove_left_results(place: str) -> None:
    """Remove the results folders that processes killed during a build (kill -9) left in
    `place`: this user's, of a process that is gone."""
    import shutil

    try:
        entries = list(os.scandir(place))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(_RESULTS):
            continue
        pid = entry.name[len(_RESULTS) :].partition("-")[0]
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid() or not entry.is_dir(
                follow_symlinks=False
            ):
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _written(path: str, parse, batch) -> str:
    """Worker side: `parse(batch)`, pickled into a new file at `path`; `path` (see FileParser)."""
    import pickle

    made = pickle.dumps(parse(batch), pickle.HIGHEST_PROTOCOL)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as handle:
        handle.write(made)
    return path


ORPHAN_CHECK_S = 1.0  # how often a worker looks whether the process it works for is gone


def _quiet_worker(owner: int) -> None:
    """A worker ignores SIGINT: Ctrl-C reaches the whole process group, and only the main
    process must stop (it then ends the pool); a worker interrupted midway would print a
    traceback. SIGINT stays blocked from the fork until it is ignored (FileParser.submit).
    It ends by itself once `owner`, the process that made the pool, is gone (see _outlive)."""
    import gc
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # What the worker inherited (a forked copy of the scan: a hundred thousand objects) is
    # never garbage: the collector need not walk it, touching (and copying) every page.
    gc.freeze()
    threading.Thread(target=_end_with, args=(owner,), name="end-with-owner", daemon=True).start()


def _end_with(owner: int) -> None:
    """End this worker once `owner` is gone. A process killed outright (kill -9, the OOM killer)
    never ends its pool, and the workers wait on its queue for ever, holding its stderr open
    (a supervisor's log pipe) and, beside a watcher, the fork server that made them."""
    parent = os.getppid()  # the owner, or the fork server it started
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent or _gone(owner):
            os._exit(0)


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended: no such process, or a zombie not yet reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # its pid now names another user's process
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[:1] == [b"Z"]
    except OSError:  # no /proc here: the parent's change tells for a forked worker
        return False


def parse_all(jobs: list, progress: Progress | None = None):
    """Yield (directory, file name, Parsed) for every job (used by verify)."""
    with FileParser("", progress) as parser:
        parser.total = len(jobs)
        yield from parser.parse(jobs)


class Refresher:
    """Refreshes the index of `root` through `conn` (an autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection, root: str, progress: Progress | None = None):
        self.conn = conn
        self.root = root
        self.progress = progress
        self.warnings: list[str] = []
        self._root_plan: Plan | None = None

    # -- scanning ------------------------------------------------------------------------
    def _dir_path(self, directory: str) -> str:
        return os.path.join(self.root, directory) if directory else self.root

    def _scan(self, directory: str, keep_keys: bool) -> "tree.DirScan | None":
        """One directory read and digested in one pass; None when it is gone or unreadable."""
        if directory and not tree.is_agent_name(directory):
            return None  # never read (`list --agent .hidden`); rows it may have go
        try:
            return tree.scan_dir(
                self._dir_path(directory), bool(directory), self.warnings, keep_keys
            )
        except (SessionPermissionError, StoreError, OSError) as error:
            self.warnings.append(f"{error}; its sessions are left out")
            return None

    def _generation(self, directory: str) -> int | None:
        for (generation,) in self.conn.execute(
            "SELECT generation FROM dirs WHERE dir = ?", (directory,)
        ):
            return generation
        return None

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
    def refresh(
        self, agent: str | None = None, rebuild: bool = False, survey: Survey | None = None
    ) -> RefreshResult:
        """Refresh what listing `agent` (or every agent) needs: its directory and the JSONL files.
        `rebuild` reads every file again and replaces every row in one transaction. `survey`
        (indexer.build.freshness) is what a look for changes scanned already: its root scan is used,
        and the directories it found unchanged are not read again."""
        # One scan of the root serves both the agent list and the JSONL files' plan (a MoFA
        # root may hold many thousands of .jsonl files): time and root stat taken before it.
        if survey is not None:
            state, scan_start, scan = survey.state, survey.root_start, survey.root
            self.warnings.extend(survey.warnings)
        else:
            state = stored_state(self.conn)
            scan_start = time.time_ns()
            # An unreadable root is an error; the stat keys are kept where no digest can match.
            scan = tree.scan_dir(
                self.root, False, self.warnings, rebuild or state.get("", (None,))[0] is None
            )
        if scan is not None:
            self._root_plan = Plan("", None, scan_start, scan.stat, scan, scan.digest, [], [])
        unchanged = survey.unchanged if survey is not None else {}
        directories = [d for d in listed_directories(scan, agent, state) if d not in unchanged]
        return self.refresh_dirs(directories, state, rebuild=rebuild, files=sum(unchanged.values()))

    def refresh_dirs(
        self, directories, state=None, force: bool = False, rebuild: bool = False, files: int = 0
    ) -> RefreshResult:
        """Scan each directory (no lock), parse what changed (a pool of processes parses ahead
        while this one writes), and write each directory in its own short transaction.
        An empty index (a first build) and a rebuild are filled in bulk instead (coldbuild)."""
        state = stored_state(self.conn) if state is None else state
        if rebuild or self._empty():
            from indexer.build.coldbuild import BulkFill  # a first build or a rebuild only

            result = BulkFill(self, state, rebuild).run(directories)
            if result is not None:
                return result  # else a small first build: directory by directory, as below
        plans = []
        for directory in directories:
            digest, generation = state.get(directory, (None, None))
            plan = self._plan(directory, generation, force or digest is None)
            files += len(plan.scan.names) if plan.scan is not None else 0
            if plan.scan is None:
                if generation is not None or self._has_rows(directory):
                    plans.append(plan)
            elif force or digest is None or digest != plan.digest:
                plans.append(self._diff(plan))
        changed = 0
        with FileParser(self.root, self.progress) as parser:
            parser.total = sum(len(plan.todo) for plan in plans)
            results = parser.parse(
                [(self.root, plan.directory, stat) for plan in plans for stat in plan.todo]
            )
            for plan in plans:
                # `results` runs on into the next plans' files: this plan takes its own count.
                parsed = {
                    name: result for _, (__, name, result) in zip(plan.todo, results, strict=False)
                }
                changed += self._apply(plan, parsed, parser.total > BIG_WRITE, force)
        return self.result(changed, files)

    def result(self, changed: int, files: int) -> RefreshResult:
        """What this refresh did. Each warning once, however many scans of a directory said it:
        a look for changes (indexer.build.freshness), a first build too small for a bulk load, and a
        directory another process wrote meanwhile are each scanned again."""
        return RefreshResult(changed, list(dict.fromkeys(self.warnings)), files)

    def _empty(self) -> bool:
        return all(
            self.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
            for table in ("sessions", "bad_files")
        )

    def _plan(self, directory: str, generation: int | None, keep_keys: bool) -> "Plan":
        if directory == "" and self._root_plan is not None:  # refresh() scanned the root already
            plan, self._root_plan = self._root_plan, None
            return plan._replace(generation=generation)
        scan_start = time.time_ns()
        scan = self._scan(directory, keep_keys)
        if scan is None:
            return Plan(directory, generation, scan_start, None, None, None, [], [])
        return Plan(directory, generation, scan_start, scan.stat, scan, scan.digest, [], [])

    def _diff(self, plan: "Plan") -> "Plan":
        """The files whose stat differs from their row (todo) and the rows to drop (gone).

        A scan that kept only a hash of each file's stat finds the files whose hash differs
        from their row's, and stats just those again (a row's key is the stat it was read at).
        """
        rows = self._stored_stats(plan.directory)
        scan = plan.scan
        if scan is None:  # a directory gone: its plan is to delete it, not to diff it
            return plan
        suspects = []
        if scan.keys is not None:
            for name, key in zip(scan.names, scan.keys, strict=True):
                known = rows.pop(name, None)
                stat = tree.FileStat(name, *key)
                if known != stat_key(stat):
                    plan.todo.append(stat)
                    if known is not None:
                        plan.gone.append(name)
        else:
            for name, digest in zip(scan.names, scan.hashes, strict=True):
                known = rows.pop(name, None)
                if known is None or hash(known) != digest:
                    suspects.append((name, known))
        plan.gone.extend(rows)  # rows left over have no file any more
        if suspects:
            stats = tree.stat_files(
                self._dir_path(plan.directory), bool(plan.directory), [name for name, _ in suspects]
            )
            for name, known in suspects:
                found = stats.get(name)
                if found is None:  # gone since the scan
                    if known is not None:
                        plan.gone.append(name)
                elif known != stat_key(found):
                    plan.todo.append(found)
                    if known is not None:
                        plan.gone.append(name)
        return plan

    def _has_rows(self, directory: str) -> bool:
        return any(
            self.conn.execute(
                f"SELECT 1 FROM {table} WHERE dir = ? LIMIT 1", (directory,)
            ).fetchone()
            for table in ("sessions", "bad_files")
        )

    def _apply(self, plan: "Plan", parsed: dict, big: bool, force: bool) -> int:
        with bulk_write(self.conn) if big else contextlib.nullcontext():
            with write_transaction(self.conn):
                return self._apply_locked(plan, parsed, force)

    def _apply_locked(self, plan: "Plan", parsed: dict, force: bool) -> int:
        """Write one directory. The plan was made without the lock: if another process wrote
        this directory since (its generation moved), scan again, so that what is written is
        never older than what is already there."""
        conn = self.conn
        directory = plan.directory
        generation = self._generation(directory)
        if generation != plan.generation:
            stored = conn.execute("SELECT digest FROM dirs WHERE dir = ?", (directory,)).fetchone()
            plan = self._plan(directory, generation, force or stored is None or stored[0] is None)
            if plan.scan is not None:
                if not force and stored is not None and stored[0] == plan.digest:
                    return 0
                plan = self._diff(plan)
        if plan.scan is None:
            removed = self._delete_dir(directory)
            conn.execute("DELETE FROM dirs WHERE dir = ?", (directory,))
            return removed
        racy_after = plan.scan_start - RACY_NS
        racy = plan.scan.stat.st_ctime_ns >= racy_after  # the plan's dir_stat
        sessions: list[IndexRow] = []
        bad: list[BadRow] = []
        for stat in plan.todo:
            result = parsed.get(stat.name)
            if result is None or result.stat != stat_key(stat):
                result = parse_one(self.root, directory, stat)
            racy |= self._add_row(directory, stat, result, racy_after, sessions, bad)
        self._write_rows(directory, plan.gone, sessions, bad, None if racy else plan.digest)
        return len(plan.gone) + len(sessions) + len(bad)

    def _wrote_dir(self, directory: str, digest: int | None) -> None:
        self.conn.execute(
            "INSERT INTO dirs (dir, digest, generation) VALUES (?, ?, 1) ON CONFLICT (dir)"
            " DO UPDATE SET digest = excluded.digest, generation = generation + 1",
            (directory, digest),
        )
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_refresh', ?)",
            (str(time.time()),),
        )

    def refresh_files(self, directory: str, names) -> int:
        """Refresh named files of one directory (what a watcher heard of), in one transaction.

        The directory's digest is cleared: it no longer describes the directory as scanned.
        """
        conn = self.conn
        dir_path = self._dir_path(directory)
        if directory and not tree.is_agent_name(directory):
            return 0
        with write_transaction(conn):
            scan_start = time.time_ns()
            gone: list[str] = []
            sessions: list[IndexRow] = []
            bad: list[BadRow] = []
            for name in names:
                if not tree.is_session_name(directory, name):
                    continue
                st = tree.regular_file_stat(os.path.join(dir_path, name))
                row = conn.execute(
                    "SELECT size, mtime_ns, inode, ctime_ns FROM sessions"
                    " WHERE dir = ? AND file = ? UNION ALL"
                    " SELECT size, mtime_ns, inode, ctime_ns FROM bad_files"
                    " WHERE dir = ? AND file = ?",
                    (directory, name, directory, name),
                ).fetchone()
                if st is None:
                    if row is not None:
                        gone.append(name)
                    continue
                stat = tree.FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                if row is not None and tuple(row) == stat_key(stat):
                    continue
                if row is not None:
                    gone.append(name)
                result = parse_one(self.root, directory, stat)
                self._add_row(directory, stat, result, scan_start - RACY_NS, sessions, bad)
            self._write_rows(directory, gone, sessions, bad, None)
        return len(gone) + len(sessions) + len(bad)

    def _add_row(
        self,
        directory: str,
        stat: tree.FileStat,
        result: Parsed,
        racy_after: int,
        sessions: list,
        bad: list,
    ) -> bool:
        """Add the row of a parsed file to `sessions` or `bad`; True when its stat is too recent
        to be trusted (its row is then stored so that the next refresh reads it again)."""
        key = stat_key(stat)
        racy = stat.ctime_ns >= racy_after
        if racy:
            key = key._replace(ctime_ns=-1)  # a ctime that never matches
        if result.row is not None:
            sessions.append(result.row._replace(**key._asdict()))
        elif result.error is not None:
            path = os.path.join(self._dir_path(directory), stat.name)
            bad.append(
                BadRow(
                    directory,
                    stat.name,
                    path,
                    result.error,
                    None,
                    name_id(directory, stat.name),
                    *key,
                )
            )
        return racy

    def _write_rows(
        self, directory: str, gone: list, sessions: list[IndexRow], bad: list[BadRow], digest
    ) -> None:
        """Replace a directory's rows for the files in `gone`, `sessions` and `bad`, and record
        the write (the directory's new digest, None when it cannot be trusted)."""
        self._delete_files(directory, gone)
        self._insert_sessions(sessions, bad)
        self.conn.executemany(insert_sql("bad_files", BadRow, "INSERT OR REPLACE"), bad)
        self._wrote_dir(directory, digest)

    def _insert_sessions(self, rows: list[IndexRow], bad: list[BadRow]) -> None:
        """Insert session rows. Where two files claim one id, `row_claim` picks the one that
        stays listed, whichever was read first; the other is left out as a duplicate."""
        if not rows:
            return
        conn = self.conn
        rows.sort()  # in primary-key order: a B-tree grows fastest at its end
        # rowcount, not total_changes: the search data's triggers would count their own rows.
        if conn.executemany(
            insert_sql("sessions", IndexRow, "INSERT OR IGNORE"), rows
        ).rowcount == len(rows):
            return
        for row in rows:
            found = conn.execute(
                f"SELECT {columns(IndexRow)} FROM sessions WHERE session_id = ?", (row.session_id,)
            ).fetchone()
            other = IndexRow._make(found) if found is not None else None
            if other is None or (other.dir, other.file) == (row.dir, row.file):
                continue
            if row_claim(row) < row_claim(other):
                conn.execute("DELETE FROM sessions WHERE session_id = ?", (row.session_id,))
                conn.execute(insert_sql("sessions", IndexRow), row)
                conn.execute(
                    insert_sql("bad_files", BadRow, "INSERT OR REPLACE"),
                    as_duplicate(other, row.path),
                )
            else:
                bad.append(as_duplicate(row, other.path))

    def forget_files(self, directory: str, names: list[str]) -> None:
        """Drop the rows of files that were just deleted (inside a write transaction)."""
        self._delete_files(directory, names)

    def _delete_files(self, directory: str, names: list[str]) -> None:
        if not names:
            return
        conn = self.conn
        pairs = [(directory, name) for name in names]
        ids = [
            session_id
            for name in names
            for (session_id,) in conn.execute(
                "SELECT session_id FROM sessions WHERE dir = ? AND file = ?", (directory, name)
            )
        ]
        conn.executemany("DELETE FROM sessions WHERE dir = ? AND file = ?", pairs)
        conn.executemany("DELETE FROM bad_files WHERE dir = ? AND file = ?", pairs)
        self._release_duplicates(ids)

    def _delete_dir(self, directory: str) -> int:
        conn = self.conn
        ids = [
            session_id
            for (session_id,) in conn.execute(
                "SELECT session_id FROM sessions WHERE dir = ?", (directory,)
            )
        ]
        removed = conn.execute("DELETE FROM sessions WHERE dir = ?", (directory,)).rowcount
        removed += conn.execute("DELETE FROM bad_files WHERE dir = ?", (directory,)).rowcount
        self._release_duplicates(ids)
        return removed

    def _release_duplicates(self, ids: list[str]) -> None:
        """Files left out as duplicates of removed sessions are read again at once, so that
        the best remaining claim is listed in the same transaction (a watcher's answer must
        not wait for the next full scan)."""
        conn = self.conn
        if (
            not ids
            or conn.execute(
                "SELECT 1 FROM bad_files WHERE duplicate_of IS NOT NULL LIMIT 1"
            ).fetchone()
            is None
        ):
            return
        released: dict[str, list[str]] = {}
        for session_id in ids:
            for directory, name in conn.execute(
                "SELECT dir, file FROM bad_files WHERE duplicate_of = ?", (session_id,)
            ).fetchall():
                released.setdefault(directory, []).append(name)
            conn.execute("DELETE FROM bad_files WHERE duplicate_of = ?", (session_id,))
        scan_start = time.time_ns()
        for directory, names in released.items():
            conn.execute(
                "UPDATE dirs SET digest = NULL, generation = generation + 1 WHERE dir = ?",
                (directory,),
            )
            sessions: list[IndexRow] = []
            bad: list[BadRow] = []
            for name in names:
                st = tree.regular_file_stat(os.path.join(self._dir_path(directory), name))
                if st is None:
                    continue
                stat = tree.FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                self._add_row(
                    directory,
                    stat,
                    parse_one(self.root, directory, stat),
                    scan_start - RACY_NS,
                    sessions,
                    bad,
                )
            self._insert_sessions(sessions, bad)
            conn.executemany(insert_sql("bad_files", BadRow, "INSERT OR REPLACE"), bad)


def _batches(jobs: list) -> list:
    """(root, directory, [plain stat tuples]) batches of at most PARSE_BATCH files of one
    directory."""
    batches: list[tuple[str, str, list]] = []
    for root, directory, stat in jobs:
        if not batches or batches[-1][1] != directory or len(batches[-1][2]) >= PARSE_BATCH:
            batches.append((root, directory, []))
        batches[-1][2].append(tuple(stat))
    return batches


def name_id(directory: str, file_name: str) -> str:
    """The id a session file's name gives: `<agent>:<stem>`, or a JSONL file's stem."""
    if directory:
        return f"{directory}:{file_name[: -len(JSON_SUFFIX)]}"
    return file_name[: -len(JSONL_SUFFIX)]
