"""Filling an index in bulk: a cold build (an empty index) and `index rebuild`.

Every directory is written in one transaction, with the secondary indexes of `sessions` by time
dropped first and built again at the end (one sort each, where inserting into them row by row
cost the build about as much CPU as parsing; see KEPT_WHILE_FILLING for the others). A reader
sees the index as it was until the commit, then whole: never half built, never empty midway
through a rebuild; a failure or an interrupt midway leaves it as it was.

Parsing is what a cold build costs, and this process's own share of the work is what the
workers wait for, so it does little: it lists each directory's names (no stat per file) and
hands them to a pool of workers, which stat each file on the descriptor they read it through
(the row's stat key is then that of what was read), parse it and send back finished rows (as
the image of a small in-memory SQLite database, which this process copies into the index with
one INSERT ... SELECT) and their part of the directory's digest. The workers are lean: a
per-agent file that is plainly well-formed (`lean_fields`) becomes its row without a Session
object; anything unusual is parsed by the one reference parser (`refresh.parse_one`), so both
give the same row for every file.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from datetime import datetime
from stat import S_ISREG
from typing import NamedTuple

from indexer.index.rows import (
    INT64_MAX,
    BadRow,
    IndexRow,
    clamp_int64,
    columns,
    insert_sql,
    tags_text,
)
from indexer.index.transactions import bulk_write, write_transaction
from mofa import tree
from mofa.errors import SessionPermissionError, StoreError
from mofa.layouts import fast_loads
from mofa.reading import NO_FOLLOW_READ
from mofa.session import JSON_LAYOUT, JSON_SUFFIX, status_of, summary_times, title_of
from mofa.timestamps import precise_index_text

WORKER_BATCH = 1024  # files per task of a worker: the pool's queue, refilled under the GIL,
# holds a task per worker and one more, and larger tasks keep the workers from waiting on it
# (a cold build of 100,000 sessions: 4 % quicker than with 256)
# Indexes of `sessions` kept while a bulk fill inserts: their keys lead with the agent or the
# directory, and rows arrive directory by directory, so their entries are added in runs, as
# cheap as an append. The others (by time) get entries all over their tree: they are dropped
# first and built again at the end with one sort each (the end is when the workers are idle:
# each index built there rather than kept made the cold build of 100,000 sessions 0.1 s longer).
KEPT_WHILE_FILLING = ("sessions_by_agent", "sessions_by_file", "sessions_agent")

# The form MoFA and most writers use: UTC, 0 to 9 fraction digits. Anything else (offsets,
# lower case, spaces, commas) goes through the reference parser.
_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.([0-9]{1,9}))?(?:Z|\+00:00)"
).fullmatch
_NINE_ZEROS = "000000000"
_DIR_READ = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_INSERT_SESSIONS = insert_sql("sessions", IndexRow, "INSERT OR IGNORE")
_INSERT_BAD = insert_sql("bad_files", BadRow, "INSERT OR REPLACE")
# A worker's session rows cross to this process as the image of a small in-memory database,
# which this one attaches (as `batch`) and copies into the index with one INSERT ... SELECT:
# no per-value unpickling and binding here (see _pack).
_PACKED = hasattr(sqlite3.Connection, "serialize")  # unless SQLite lacks sqlite3_serialize
_BATCH_TABLE = f"CREATE TABLE rows ({columns(IndexRow)})"
_INSERT_BATCH = insert_sql("rows", IndexRow)
_SELECT_BATCH = f"SELECT {columns(IndexRow)} FROM batch.rows"
_COPY_BATCH = f"INSERT OR IGNORE INTO sessions ({columns(IndexRow)}) {_SELECT_BATCH}"


class _Unusual(Exception):
    """A file the lean reader leaves to the reference parser."""


class _NotInBulk(Exception):
    """A first build that is not for a bulk load after all (see BulkFill.run)."""


def index_time(value) -> str | None:
    """`mofa.timestamps.precise_index_text`, without its datetime round trip for the common form."""
    if type(value) is str:
        match = _CANONICAL(value)
        if match is not None:
            try:
                datetime.fromisoformat(value[:19])  # a real date and time of day
            except ValueError:
                return None
            return f"{value[:19]}.{((match[1] or '') + _NINE_ZEROS)[:9]}Z"
    return precise_index_text(value)


def lean_fields(data: bytes, mtime_ns: int) -> tuple:
    """(created_at, updated_at, message_count, status, user_id, tags, title) of a plainly
    well-formed per-agent session file read as `data`, as the reference parser gives them;
    raises _Unusual for anything else."""
    loads = fast_loads()
    if not loads:
        raise _Unusual
    try:
        document = loads(data)
    except ValueError:  # not JSON for orjson: the reference parser decides
        raise _Unusual from None
    if type(document) is not dict:
        raise _Unusual
    messages = document.get("messages", [])
    if type(messages) is not list or (messages and set(map(type, messages)) != {dict}):
        raise _Unusual
    metadata = document.get("metadata")
    if metadata is None:
        metadata = {}
    elif type(metadata) is not dict:
        raise _Unusual
    user = metadata.get("user_id")
    if type(user) is float:  # maybe an integer beyond 64 bits, which orjson reads as a float
        raise _Unusual
    user = str(user) if type(user) is str or type(user) is int else None
    created, updated = summary_times(document, messages, mtime_ns, index_time)
    status = status_of(document.get("status"), messages)
    tags = metadata.get("tags")
    if type(tags) is list:
        tags = [tag for tag in tags if type(tag) is str]
        tags = tags_text(tags) if tags else None
    else:
        tags = None
    return created, updated, len(messages), status, user, tags, title_of(metadata, messages)


class ParsedBatch(NamedTuple):
    """What a worker made of some files of one directory (see `parse_batch`)."""

    sessions: bytes | list  # rows in IndexRow's field order, packed (see _pack) or plain tuples
    session_count: int  # how many session rows
    bad: list  # BadRow's, as plain tuples
    files: int  # how many of the names were session files (regular files) when opened
    hash_sum: int  # the sum of the hashes of their stat keys (see tree.digest_of)
    racy: bool  # a file's ctime was too recent to trust (see refresh.RACY_NS)


def parse_batch(batch: tuple) -> ParsedBatch:
    """Worker side: read the files `names` of `directory` (root, directory, names, racy_after),
    each stat-ed on the descriptor it is read through, so that a row's stat key is that of
    what was read (a file replaced since the listing gives the row of the new one, and the
    digest its key). A name that is no longer a regular file is left out (as a later scan
    would); a per-agent file that is plainly well-formed is read by `lean_fields`, anything
    else (and the root's MoFA files) by the reference parser, `refresh.parse_one`."""
    from indexer.build.refresh import name_id, parse_one

    root, directory, names, racy_after = batch
    dir_path = os.path.join(root, directory) if directory else root
    prefix = os.path.join(dir_path, "")
    sessions: list[tuple] = []
    bad: list[tuple] = []
    files = hash_sum = 0
    racy = False
    try:  # an agent directory never through a symlink, even one swapped in since the listing
        dir_fd = os.open(dir_path, _DIR_READ | (os.O_NOFOLLOW if directory else 0))
    except OSError:
        return ParsedBatch([], 0, bad, 0, 0, False)  # gone since the listing, its files with it
    limit = tree.max_session_bytes()
    lean = bool(directory) and bool(fast_loads())
    add_session = sessions.append
    try:
        for name in names:
            data = st = None
            if lean:
                try:
                    fd = os.open(name, NO_FOLLOW_READ, dir_fd=dir_fd)
                except OSError:
                    fd = -1
                if fd >= 0:
                    try:
                        st = os.fstat(fd)
                        if S_ISREG(st.st_mode) and st.st_size <= limit:
                            data = os.read(fd, st.st_size + 1)
                    except OSError:
                        pass
                    finally:
                        os.close(fd)
            if st is None:  # not opened (unreadable, gone, a symlink): what a scan would see
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
            if not S_ISREG(st.st_mode):
                continue
            size, mtime_ns, inode, ctime_ns = key = (
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
                st.st_ctime_ns,
            )
            files += 1
            hash_sum += hash(key)
            fields: tuple | str | IndexRow | None = None  # lean fields, an error, or a full row
            if (
                data is not None and len(data) <= size
            ):  # else grown since its stat: read whole below
                try:
                    fields = lean_fields(data, mtime_ns)
                except _Unusual:
                    pass
            if fields is None:
                parsed = parse_one(root, directory, tree.FileStat(name, *key))
                if parsed.row is None:
                    if parsed.error is None:  # gone since its stat
                        continue
                    fields = parsed.error
                elif directory:
                    row = parsed.row
                    fields = (
                        row.created_at,
                        row.updated_at,
                        row.message_count,
                        row.status,
                        row.user_id,
                        row.tags,
                        row.title,
                    )
                else:
                    fields = parsed.row
            if mtime_ns > INT64_MAX or mtime_ns < -INT64_MAX:  # beyond year 2262: clamped
                mtime_ns = clamp_int64(mtime_ns)
            if ctime_ns >= racy_after:  # kept with a ctime that never matches: read again next time
                ctime_ns = -1
                racy = True
            if type(fields) is tuple:
                stem = name[: -len(JSON_SUFFIX)]
                # IndexRow's fields, in order (a test holds this to the reference parser's rows)
                add_session(
                    (
                        f"{directory}:{stem}",
                        directory,
                        stem,
                        *fields,
                        prefix + name,
                        JSON_LAYOUT,
                        directory,
                        name,
                        size,
                        mtime_ns,
                        inode,
                        ctime_ns,
                    )
                )
            elif type(fields) is str:
                bad.append(
                    (
                        directory,
                        name,
                        prefix + name,
                        fields,
                        None,
                        name_id(directory, name),
                        size,
                        mtime_ns,
                        inode,
                        ctime_ns,
                    )
                )
            elif type(fields) is IndexRow:  # a MoFA file's row
                mofa_row: IndexRow = fields
                add_session(tuple(mofa_row._replace(mtime_ns=mtime_ns, ctime_ns=ctime_ns)))
    finally:
        os.close(dir_fd)
    sessions.sort()  # in primary-key order: a B-tree grows fastest at its end
    return ParsedBatch(
        _pack(sessions) if sessions and _PACKED else sessions,
        len(sessions),
        bad,
        files,
        hash_sum,
        racy,
    )


def _pack(rows: list) -> bytes:
    """`rows` as the image of an in-memory SQLite database (table `rows`). Packing costs a worker
    a little more than pickling would; it saves the main process more than that."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute(_BATCH_TABLE)
        conn.execute("BEGIN")
        conn.executemany(_INSERT_BATCH, rows)
        conn.execute("COMMIT")
        return conn.serialize()
    finally:
        conn.close()


class _Listed(NamedTuple):
    """One directory as listed for a bulk fill (names only: the workers stat the files)."""

    directory: str
    generation: int | None
    scan_start: int  # time.time_ns() before the listing: what the racy rule compares with
    dir_stat: os.stat_result | None
    names: list[str] | None  # None when the directory is gone


class BulkFill:
    """Fills `refresher`'s index, empty or (`rebuild`) not, from every file of the directories
    it is given, in one transaction.

    The pool of parsing processes starts as soon as the listing has found enough files, and
    each directory's files are handed to it as they are listed: the workers parse while this
    process lists the rest, then writes.
    """

    def __init__(self, refresher, state: dict, rebuild: bool):
        from indexer.build.refresh import FileParser

        self.refresher = refresher
        self.conn = refresher.conn
        self.root = refresher.root
        self.state = state  # dir -> (digest, generation) as stored before the scan
        self.rebuild = rebuild
        self.parser = FileParser(refresher.root, refresher.progress)
        self._pending: list = []  # per batch: the pool's Future, or the batch to parse here
        self._handed: dict = {}  # position -> a batch handed to the pool (parsed here if lost)
        self._pooled = False  # whether the batches go to the pool (FileParser.submit)

    def run(self, directories):
        """The refresh's result; None when a first build finds the index filled by another
        process meanwhile, or too small to be worth a bulk load: the caller then refreshes
        directory by directory, as it does a filled index."""
        try:
            if self.rebuild:
                # Scanned and parsed without the write lock, so that a watcher goes on writing
                # meanwhile: a directory written since is read again under the lock (_fill).
                listed, files = self._scan(directories)
                changed = self._locked(lambda: self._fill(listed))
            else:
                # A first build takes the write lock before it scans: a command started at the
                # same time waits for it, then finds the index filled, instead of parsing
                # every file a second time beside it.
                # Scanned again directory by directory then; the root's scan (Refresher.refresh's)
                # serves that too.
                root_plan = self.refresher._root_plan
                try:
                    listed, files, changed = self._locked(lambda: self._first_build(directories))
                except _NotInBulk:
                    self.refresher._root_plan = root_plan
                    return None
        finally:
            self.parser.close()
        return self.refresher.result(changed, files)

    def _first_build(self, directories) -> tuple[list, int, int]:
        from indexer.build.refresh import BIG_WRITE

        if not self.refresher._empty():
            raise _NotInBulk  # filled by another process since this one looked
        listed, files = self._scan(directories)
        if self.parser.total <= BIG_WRITE:
            raise _NotInBulk
        return listed, files, self._fill(listed)

    def _scan(self, directories) -> tuple[list, int]:
        """List each directory (names only) and hand its files to the pool in batches."""
        from indexer.build.refresh import BIG_WRITE, PARALLEL_THRESHOLD, RACY_NS

        # A pool only for a load in bulk (see run), of enough files to be worth its start.
        threshold = max(PARALLEL_THRESHOLD, 0 if self.rebuild else BIG_WRITE + 1)
        listed, files = [], 0
        for directory in directories:
            digest, generation = self.state.get(directory, (None, None))
            place = self._list(directory, generation)
            if place.names is None:
                if generation is not None or self.rebuild or self.refresher._has_rows(directory):
                    listed.append(place)
                continue
            names = place.names
            files += len(names)
            stat = place.dir_stat  # there whenever names are
            if not names and not self.rebuild and stat and digest == tree.digest_of(stat, 0, 0):
                continue  # as it was written, empty
            listed.append(place)
            racy_after = place.scan_start - RACY_NS
            for start in range(0, len(names), WORKER_BATCH):
                self._pending.append((directory, names[start : start + WORKER_BATCH], racy_after))
            self.parser.total += len(names)
            self._pooled = self._pooled or self.parser.total >= threshold
            if self._pooled:
                self._submit()
        return listed, files

    def _list(self, directory: str, generation: int | None) -> _Listed:
        """`directory` listed (see tree.list_dir); the root was scanned by Refresher.refresh."""
        refresher = self.refresher
        if directory == "":
            plan = refresher._plan(directory, generation, False)
            names = plan.scan.names if plan.scan is not None else None
            return _Listed(directory, generation, plan.scan_start, plan.dir_stat, names)
        scan_start = time.time_ns()
        listing = None
        if tree.is_agent_name(directory):  # else never read (`list --agent .hidden`)
            try:
                listing = tree.list_dir(
                    os.path.join(self.root, directory), True, refresher.warnings
                )
            except (SessionPermissionError, StoreError, OSError) as error:
                refresher.warnings.append(f"{error}; its sessions are left out")
        if listing is None:
            return _Listed(directory, generation, scan_start, None, None)
        return _Listed(directory, generation, scan_start, *listing)

    def _submit(self) -> None:
        """Hand the batches not yet handed to the pool (none when there is none, or no longer)."""
        pending, submit = self._pending, self.parser.submit
        first = 0
        for position in range(len(pending) - 1, -1, -1):
            if type(pending[position]) is not tuple:
                first = position + 1
                break
        for position in range(first, len(pending)):
            future = submit(parse_batch, (self.root, *pending[position]))
            if future is None:
                return
            self._handed[position] = pending[position]
            pending[position] = future

    def _results(self):
        """Each batch's results, in order (each let go once taken: not all kept to the end);
        parsed here when it was not handed to the pool, or the pool lost a worker."""
        pending, handed, collect = self._pending, self._handed, self.parser.collect
        for position, item in enumerate(pending):
            pending[position] = None
            if type(item) is tuple:
                yield parse_batch((self.root, *item))
            else:
                batch = handed.pop(position, None)
                yield collect(item, (self.root, *batch), parse_batch)

    def _locked(self, work):
        """`work()` in one write transaction, with a bulk load's page cache and no fsync."""
        conn = self.conn
        with bulk_write(conn):
            if _PACKED:
                conn.execute("ATTACH ':memory:' AS batch")  # never within a transaction: before it
            try:
                with write_transaction(conn):
                    return work()
            finally:
                if _PACKED:
                    conn.execute("DETACH DATABASE batch")

    def _fill(self, listed: list) -> int:
        from indexer.build.refresh import RACY_NS

        conn, refresher = self.conn, self.refresher
        generations = dict(conn.execute("SELECT dir, generation FROM dirs"))
        if self.rebuild:
            conn.execute("DELETE FROM sessions")
            conn.execute("DELETE FROM bad_files")
        indexes = [
            (name, sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'sessions' AND sql IS NOT NULL"
            )
            if name not in KEPT_WHILE_FILLING
        ]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        results = self._results()
        progress, done, total = self.parser.progress, 0, self.parser.total
        changed = 0
        for place in listed:
            batches: list[ParsedBatch] = []
            bad: list[tuple] = []
            files = hash_sum = 0
            racy = False
            names = place.names or ()
            for start in range(0, len(names), WORKER_BATCH):
                batch = next(results)
                batches.append(batch)
                bad += batch.bad
                files += batch.files
                hash_sum += batch.hash_sum
                racy |= batch.racy
                done += min(WORKER_BATCH, len(names) - start)
                if progress:
                    progress(done, total)
            if generations.get(place.directory) != place.generation:
                # Written by another process since the listing (a watcher, a refresh): what was
                # parsed may be older than what it wrote. Read this directory again, here.
                changed += self._reread(place.directory)
                continue
            if place.names is None:
                changed += refresher._delete_dir(place.directory)
                conn.execute("DELETE FROM dirs WHERE dir = ?", (place.directory,))
                continue
            # The digest a later scan computes, from the keys the workers stat-ed (a racy stat,
            # of a file or of the directory, cannot be trusted: no digest, so it is read again).
            racy |= place.dir_stat.st_ctime_ns >= place.scan_start - RACY_NS
            digest = None if racy else tree.digest_of(place.dir_stat, files, hash_sum)
            changed += self._insert(batches, bad) + len(bad)
            conn.executemany(_INSERT_BAD, bad)
            refresher._wrote_dir(place.directory, digest)
        for _, sql in indexes:
            conn.execute(sql)
        return changed

    def _insert(self, batches: list, bad: list) -> int:
        """Insert one directory's session rows; their number. Where two files claim one id,
        `Refresher._insert_sessions` decides which one stays listed (claim_rank)."""
        conn = self.conn
        count = 0
        for batch in batches:
            if not batch.session_count:
                continue
            count += batch.session_count
            if type(batch.sessions) is bytes:
                conn.deserialize(batch.sessions, name="batch")
                if conn.execute(_COPY_BATCH).rowcount == batch.session_count:
                    continue
            elif conn.executemany(_INSERT_SESSIONS, batch.sessions).rowcount == batch.session_count:
                continue
            rows = (
                conn.execute(_SELECT_BATCH).fetchall()
                if type(batch.sessions) is bytes
                else batch.sessions
            )
            self.refresher._insert_sessions([IndexRow._make(row) for row in rows], bad)
        return count

    def _reread(self, directory: str) -> int:
        refresher = self.refresher
        refresher._delete_dir(directory)
        plan = refresher._plan(directory, refresher._generation(directory), True)
        if plan.scan is not None:
            plan = refresher._diff(plan)  # no rows left: every file is read
        return refresher._apply_locked(plan, {}, True)
