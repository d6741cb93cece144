"""Filling an index in bulk: a cold build (an empty index) and `index rebuild`.

Every directory is written in one transaction, with the secondary indexes of `sessions` dropped
first and built again at the end (one sort each, where inserting into four B-trees row by row
cost the build about as much CPU as parsing). A reader sees the index as it was until the
commit, then whole: never half built, never empty midway through a rebuild; a failure or an
interrupt midway leaves it as it was.

Parsing is what a cold build costs, so the workers are lean: a per-agent file that is plainly
well-formed (`lean_fields`) becomes a short tuple of the fields its row needs, without a
Session object, and only the fields that the file's contents decide cross the pipe (its id,
agent, path and stat the main process knows already). Anything unusual is parsed by the one
reference parser (`refresh.parse_one`), so both give the same row for every file.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from indexer.rows import BadRow, IndexRow, insert_sql
from indexer.transactions import write_transaction
from mofa import tree
from mofa.session import JSON_LAYOUT, JSON_SUFFIX
from mofa.timestamps import UNKNOWN, epoch_ns_index_text, precise_index_text

BATCH = 256  # files per message to and from a worker

# The form MoFA and most writers use: UTC, 0 to 9 fraction digits. Anything else (offsets,
# lower case, spaces, commas) goes through the reference parser.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                        r"(?:\.([0-9]{1,9}))?(?:Z|\+00:00)").fullmatch
_NINE_ZEROS = "000000000"
_INT64_MAX = 2**63 - 1
_READ = os.O_RDONLY | os.O_CLOEXEC
_INSERT_SESSIONS = insert_sql("sessions", IndexRow, "INSERT OR IGNORE")
_INSERT_BAD = insert_sql("bad_files", BadRow, "INSERT OR REPLACE")


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


_loads = None


def _orjson_loads():
    global _loads
    if _loads is None:
        try:
            from orjson import loads
        except ImportError:
            loads = False
        _loads = loads
    return _loads


def lean_fields(path: str, size: int, mtime_ns: int) -> tuple:
    """(created_at, updated_at, message_count, status, user_id, tags) of a plainly well-formed
    per-agent session file of `size` bytes when scanned, as `Session.summary` gives them;
    raises _Unusual for anything else."""
    loads = _orjson_loads()
    if not loads or size > tree.max_session_bytes():
        raise _Unusual
    try:
        fd = os.open(path, _READ)
        try:
            data = os.read(fd, size + 1)
        finally:
            os.close(fd)
        if len(data) > size:  # grown since the scan: the reference parser reads it whole
            raise _Unusual
        document = loads(data)
    except (OSError, ValueError):  # gone, unreadable, not JSON for orjson: the reference decides
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
    created = index_time(document.get("created_at"))
    if created is None and messages:
        created = index_time(messages[0].get("timestamp"))
    if created is None:
        created = epoch_ns_index_text(mtime_ns)
        if created is None:
            created = UNKNOWN
    updated = index_time(document.get("updated_at"))
    if updated is None and messages:
        updated = index_time(messages[-1].get("timestamp"))
    status = document.get("status")
    if type(status) is not str or not status:
        status = "active" if messages else "empty"
    tags = metadata.get("tags")
    if type(tags) is list:
        tags = [tag for tag in tags if type(tag) is str]
        tags = _tags_text(tags) if tags else None
    else:
        tags = None
    return created, updated, len(messages), status, user, tags


def _tags_text(tags: list[str]) -> str:
    """`json.dumps(tags, ensure_ascii=False)` (what the reference parser stores), written by
    hand for plain printable ASCII tags, which need no escape."""
    joined = "".join(tags)
    if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
        return '["' + '", "'.join(tags) + '"]'
    import json

    return json.dumps(tags, ensure_ascii=False)


def parse_batch(batch: tuple) -> list:
    """Worker side: for (root, directory, names, stat keys (size, mtime_ns, inode, ctime_ns)),
    one result per file, in order: a tuple of `lean_fields` (a per-agent session), an error
    text (a file that is not a session), None (a file gone since the scan), or for the root's
    MoFA files the reference parser's `Parsed`."""
    from indexer.refresh import parse_one

    root, directory, names, keys = batch
    results = []
    if not directory:
        for name, key in zip(names, keys):
            results.append(parse_one(root, directory, tree.FileStat(name, *key)))
        return results
    prefix = os.path.join(root, directory, "")
    for name, key in zip(names, keys):
        try:
            results.append(lean_fields(prefix + name, key[0], key[1]))
            continue
        except _Unusual:
            pass
        parsed = parse_one(root, directory, tree.FileStat(name, *key))
        if parsed.row is not None:
            row = parsed.row
            results.append((row.created_at, row.updated_at, row.message_count, row.status,
                            row.user_id, row.tags))
        else:
            results.append(parsed.error)
    return results


class BulkFill:
    """Fills `refresher`'s index, empty or (`rebuild`) not, from every file of the directories
    it is given, in one transaction.

    The pool of parsing processes starts as soon as the scan has found enough files, and each
    directory's files are handed to it as the scan finds them: the workers parse while this
    process scans the rest, then writes.
    """

    def __init__(self, refresher, state: dict, rebuild: bool):
        from indexer.refresh import FileParser

        self.refresher = refresher
        self.conn = refresher.conn
        self.root = refresher.root
        self.state = state  # dir -> (digest, generation) as stored before the scan
        self.rebuild = rebuild
        self.parser = FileParser(refresher.root, refresher.progress)
        self._pending: list = []  # per batch: the pool's AsyncResult, or the batch to parse here
        self._pool = None

    def run(self, directories):
        """The refresh's result; None when a first build finds the index filled by another
        process meanwhile, or too small to be worth a bulk load: the caller then refreshes
        directory by directory, as it does a filled index."""
        from indexer.refresh import RefreshResult

        try:
            if self.rebuild:
                # Scanned and parsed without the write lock, so that a watcher goes on writing
                # meanwhile: a directory written since is read again under the lock (_fill).
                plans, files = self._scan(directories)
                changed = self._locked(lambda: self._fill(plans))
            else:
                # A first build takes the write lock before it scans: a command started at the
                # same time waits for it, then finds the index filled, instead of parsing
                # every file a second time beside it.
                try:
                    plans, files, changed = self._locked(lambda: self._first_build(directories))
                except _NotInBulk:
                    return None
        finally:
            self.parser.close()
        return RefreshResult(changed, self.refresher.warnings, files)

    def _first_build(self, directories) -> tuple[list, int, int]:
        from indexer.refresh import BIG_WRITE

        if not self.refresher._empty():
            raise _NotInBulk  # filled by another process since this one looked
        plans, files = self._scan(directories)
        if self.parser.total <= BIG_WRITE:
            raise _NotInBulk
        return plans, files, self._fill(plans)

    def _scan(self, directories) -> tuple[list, int]:
        from indexer.refresh import BIG_WRITE, PARALLEL_THRESHOLD

        refresher = self.refresher
        # A pool only for a load in bulk (see run), of enough files to be worth its start.
        threshold = max(PARALLEL_THRESHOLD, 0 if self.rebuild else BIG_WRITE + 1)
        plans, files = [], 0
        for directory in directories:
            digest, generation = self.state.get(directory, (None, None))
            plan = refresher._plan(directory, generation, True)
            if plan.scan is not None and plan.scan.keys is None:  # the root, scanned by refresh()
                plan = refresher._plan(directory, generation, True)
            if plan.scan is None:
                if generation is not None or self.rebuild or refresher._has_rows(directory):
                    plans.append(plan)
                continue
            files += len(plan.scan.names)
            if not self.rebuild and digest is not None and digest == plan.digest:
                continue  # as it was written: nothing in it to read
            plans.append(plan)
            names, keys = plan.scan.names, plan.scan.keys
            for start in range(0, len(names), BATCH):
                self._pending.append((directory, names[start:start + BATCH], keys[start:start + BATCH]))
            self.parser.total += len(names)
            if self._pool is None and self.parser.total >= threshold:
                self._pool = self.parser.pool()
            if self._pool is not None:
                self._submit()
        return plans, files

    def _submit(self) -> None:
        """Hand the batches not yet handed to the pool."""
        pending, apply = self._pending, self._pool.apply_async
        for position in range(len(pending) - 1, -1, -1):
            if type(pending[position]) is not tuple:
                break
        else:
            position = -1
        for position in range(position + 1, len(pending)):
            directory, names, keys = pending[position]
            pending[position] = apply(parse_batch, ((self.root, directory, names, keys),))

    def _results(self):
        """Each batch's results, in order."""
        for item in self._pending:
            if type(item) is tuple:
                directory, names, keys = item
                yield parse_batch((self.root, directory, names, keys))
            else:
                yield item.get()

    def _locked(self, work):
        """`work()` in one write transaction, with a bulk load's page cache and no fsync."""
        conn = self.conn
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA synchronous = OFF")  # the index is disposable (see Refresher._apply)
        try:
            with write_transaction(conn):
                return work()
        finally:
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -2000")

    def _fill(self, plans: list) -> int:
        conn, refresher = self.conn, self.refresher
        generations = dict(conn.execute("SELECT dir, generation FROM dirs"))
        if self.rebuild:
            conn.execute("DELETE FROM sessions")
            conn.execute("DELETE FROM bad_files")
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                               " AND tbl_name = 'sessions' AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        results = self._results()
        progress, done, total = self.parser.progress, 0, self.parser.total
        changed = 0
        for plan in plans:
            sessions: list[tuple] = []
            bad: list[BadRow] = []
            racy = False
            rows_of = _RowMaker(self.root, plan)
            names, keys = (plan.scan.names, plan.scan.keys) if plan.scan is not None else ([], [])
            for start in range(0, len(names), BATCH):
                parsed = next(results)
                racy |= rows_of.add(names[start:start + BATCH], keys[start:start + BATCH], parsed,
                                    sessions, bad)
                done += len(parsed)
                if progress:
                    progress(done, total)
            if generations.get(plan.directory) != plan.generation:
                # Written by another process since the scan (a watcher, a refresh): what was
                # parsed may be older than what it wrote. Read this directory again, here.
                changed += self._reread(plan.directory)
                continue
            if plan.scan is None:
                changed += refresher._delete_dir(plan.directory)
                conn.execute("DELETE FROM dirs WHERE dir = ?", (plan.directory,))
                continue
            racy |= plan.dir_stat.st_ctime_ns >= rows_of.racy_after
            self._insert(sessions, bad)
            conn.executemany(_INSERT_BAD, bad)
            refresher._wrote_dir(plan.directory, None if racy else plan.digest)
            changed += len(sessions) + len(bad)
        for _, sql in indexes:
            conn.execute(sql)
        return changed

    def _insert(self, rows: list[tuple], bad: list) -> None:
        """Insert one directory's session rows (plain tuples in IndexRow's field order: SQLite
        binds a tuple subclass's fields a third slower). Where two files claim one id,
        `Refresher._insert_sessions` decides which one stays listed (claim_rank)."""
        rows.sort()  # in primary-key order: a B-tree grows fastest at its end
        if self.conn.executemany(_INSERT_SESSIONS, rows).rowcount != len(rows):
            self.refresher._insert_sessions([IndexRow._make(row) for row in rows], bad)

    def _reread(self, directory: str) -> int:
        refresher = self.refresher
        refresher._delete_dir(directory)
        plan = refresher._plan(directory, refresher._generation(directory), True)
        if plan.scan is not None:
            plan = refresher._diff(plan)  # no rows left: every file is read
        return refresher._apply_locked(plan, {}, True)


class _RowMaker:
    """Rows of one directory from its workers' results (see `parse_batch`)."""

    def __init__(self, root: str, plan):
        from indexer.refresh import RACY_NS

        self.directory = plan.directory
        # A scanned name is one plain component: joined by hand (os.path.join per row adds up).
        self.prefix = os.path.join(os.path.join(root, plan.directory) if plan.directory else root, "")
        self.racy_after = plan.scan_start - RACY_NS

    def add(self, names: list, keys: list, results: list, sessions: list, bad: list) -> bool:
        """Add the rows of the files `names` (stat-ed as `keys`) parsed as `results`; True when a
        stat is too recent to trust (its row is then kept with a ctime that never matches, so
        that the next refresh reads it again)."""
        from indexer.refresh import name_id

        directory, prefix, racy_after = self.directory, self.prefix, self.racy_after
        racy = False
        add_session, add_bad = sessions.append, bad.append
        for name, (size, mtime_ns, inode, ctime_ns), result in zip(names, keys, results):
            if mtime_ns > _INT64_MAX or mtime_ns < -_INT64_MAX:  # beyond year 2262: clamped
                mtime_ns = max(min(mtime_ns, _INT64_MAX), -_INT64_MAX)
            if ctime_ns >= racy_after:
                ctime_ns = -1
                racy = True
            if type(result) is tuple:
                stem = name[: -len(JSON_SUFFIX)]
                # IndexRow's fields, in order (a test holds this to the reference parser's rows)
                add_session((f"{directory}:{stem}", directory, stem, *result, prefix + name,
                             JSON_LAYOUT, directory, name, size, mtime_ns, inode, ctime_ns))
                continue
            if result is None:  # gone since the scan
                continue
            if type(result) is not str:  # a MoFA file's Parsed
                if result.row is not None:
                    add_session(result.row._replace(size=size, mtime_ns=mtime_ns, inode=inode,
                                                    ctime_ns=ctime_ns))
                    continue
                result = result.error
                if result is None:
                    continue
            add_bad(BadRow(directory, name, prefix + name, result, None, name_id(directory, name),
                           size, mtime_ns, inode, ctime_ns))
        return racy
