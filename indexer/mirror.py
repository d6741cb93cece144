"""`mofa-indexd --sync-to URL`: mirror the watched root into a PostgreSQL store.

A thread of its own, beside the local index (which never waits for the database): the
daemon tells it which files each batch touched, and it brings the database up to date with
them, a burst in one transaction. What it sends is decided by content hash, never by "send
everything": it reads the database's hashes of what a pass looks at (all of them on a full
pass, at least every IDLE_SYNC_S; the changed ids otherwise), never trusting its memory of
them, and each file's (computed when the file's stat changes), and sends only those that
differ, deleting those the root no longer holds. The same comparison is the catch-up after an
outage or a restart, so a dropped connection, a server restart, a SIGKILLed watcher or rows
deleted in the database behind its back lose nothing.

An origin belongs to one root (its host and real path, recorded in the database): a second
root under the same origin is refused (OriginTaken), since its passes would delete the first
root's sessions. A root that no longer exists on this host gives its origin up to the next.

The database never changes a host's files: nothing here writes under the root.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from mofa import tree
from mofa.errors import MofaError, OriginTaken, StoreUnavailable
from mofa.plurals import counted
from mofa.reading import claim_rank, load_path

if TYPE_CHECKING:
    from mofa.stores.postgres.store import PostgresSessionStore
from mofa.stores.urls import masked

log = logging.getLogger("mofa-indexd")


def default_origin() -> str:
    return socket.gethostname() or "localhost"


class Known(NamedTuple):
    """What the mirror knows of one session file: its stat, the session's id and hash."""

    stat: tuple[int, int, int, int]  # size, mtime_ns, ino, ctime_ns
    session_id: str
    content_hash: str


class Mirror:
    """Keeps the sessions of `root` in the store at `url` under `origin`."""

    IDLE_SYNC_S = 15.0  # a full pass this often when nothing happens: last_sync stays fresh
    MAX_BACKOFF_S = 10.0
    SETTLE_S = 0.05  # a burst's changes gathered into one pass, one transaction
    CHUNK = 1000  # a full pass sends this many sessions per transaction: memory stays bounded

    def __init__(self, root: str, url: str, origin: str | None = None):
        self.root = root
        self.url = url
        self.where = masked(url)
        self.origin = origin or default_origin()
        self.owner = (default_origin(), os.path.realpath(root))  # whose origin it is
        self.refused: OriginTaken | None = None  # the origin is another root's: stopped
        # Called (no argument) when refused: the daemon stops.
        self.on_refused: Callable[[], None] | None = None
        self.store: PostgresSessionStore | None = None
        self.remote: dict[str, str] = {}  # id -> hash in the database, as last read
        self.files: dict[tuple[str, str], Known] = {}
        self.claims: dict[str, set] = {}  # id -> the files that hold it (usually one)
        self.affected: set[str] = set()  # ids whose files changed since the last pass
        self.touched: set[tuple[str, str]] = set()
        self.everything = True
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.down_since: float | None = None
        self.backoff = 0.0
        self.thread: threading.Thread | None = None
        self.passes = 0  # completed passes, for tests and logs

    # -- what the daemon calls -------------------------------------------------------------
    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="mofa-mirror", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self._close()

    def note(self, batch) -> None:
        """The files a batch of the watcher touched (a directory or a lost event: all)."""
        with self.lock:
            if batch.everything or batch.dirs:
                self.everything = True
            for directory, names in batch.files.items():
                self.touched.update((directory, name) for name in names)
        self.wake.set()

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        next_full = 0.0
        while not self.stopping.is_set():
            if self.down_since is not None:
                self.stopping.wait(self.backoff)  # new changes do not hurry a retry
            else:
                self.wake.wait(max(next_full - time.monotonic(), 0.0))
            if self.stopping.is_set():
                break
            self.stopping.wait(self.SETTLE_S)
            self.wake.clear()
            with self.lock:
                everything = self.everything or time.monotonic() >= next_full
                touched, self.touched, self.everything = self.touched, set(), False
            try:
                self._pass(everything, touched)
            except OriginTaken as error:
                self._close()
                self.refused = error
                log.error("%s; not mirroring %s", error, self.root)
                if self.on_refused is not None:
                    self.on_refused()
                return
            except Exception as error:  # the database's trouble never stops the watcher
                with self.lock:
                    self.everything = True  # what was not sent is found by the next full pass
                self._failed(error)
                continue
            if self.down_since is not None:
                log.info(
                    "sync to %s works again (down %.1f s since %s); caught up by hash",
                    self.where,
                    time.time() - self.down_since,
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.down_since)),
                )
                self.down_since, self.backoff = None, 0.0
            if everything:
                next_full = time.monotonic() + self.IDLE_SYNC_S

    def _failed(self, error: Exception) -> None:
        self._close()
        self.backoff = min(max(self.backoff * 2, 0.25), self.MAX_BACKOFF_S)
        if self.down_since is None:
            self.down_since = time.time()
            # Once per outage, not once per retry.
            log.error(
                "sync to %s failed (%s); the local index keeps working; retrying with"
                " backoff up to %.0f s",
                self.where,
                error,
                self.MAX_BACKOFF_S,
            )
        else:
            log.debug(
                "sync to %s still failing (%s); next try in %.1f s", self.where, error, self.backoff
            )

    def _close(self) -> None:
        store, self.store, self.remote = self.store, None, {}
        if store is not None:
            store.close()

    def _connect(self) -> PostgresSessionStore:
        from mofa.stores.postgres import open_postgres_store

        self.store = store = open_postgres_store(self.url)
        store.mirror_claim(self.origin, self.owner, _gone_from_this_host)
        return store

    def _connected(self) -> PostgresSessionStore:
        if self.store is None:  # never: every pass connects first
            raise StoreUnavailable(f"not connected to {self.where}")
        return self.store

    # -- one pass --------------------------------------------------------------------------
    def _pass(self, everything: bool, touched: set) -> None:
        store = self.store
        connected = store is None
        if store is None:
            store = self._connect()
            everything = True  # a new connection: compare everything by hash
        fresh: dict[str, tuple] = {}  # id -> prepared rows read during this pass
        self.sent = 0
        if everything:
            # What the database holds now, not what it held: rows deleted behind the mirror's
            # back are sent again.
            self.remote = store.mirror_hashes(self.origin)
            self._scan_all(fresh)
        else:
            for key in touched:
                self._look_at(key, fresh)
            if self.affected:
                held = store.mirror_hashes(self.origin, sorted(self.affected))
                for sid in self.affected:
                    if sid in held:
                        self.remote[sid] = held[sid]
                    else:
                        self.remote.pop(sid, None)
        remote = self.remote
        local: Mapping[str, str | None]  # None: no file holds the id any more
        if everything:
            local = self._local_hashes()
            upserts_ids = [sid for sid, digest in local.items() if remote.get(sid) != digest]
            deletes = [sid for sid in remote if sid not in local]
        else:  # only the ids whose files changed: a pass costs the batch, not the root
            local = {sid: self._hash_of(sid) for sid in self.affected}
            upserts_ids = [
                sid
                for sid, digest in local.items()
                if digest is not None and remote.get(sid) != digest
            ]
            deletes = [sid for sid, digest in local.items() if digest is None and sid in remote]
        self.affected = set()
        count = len(self.claims)
        if not upserts_ids and not deletes and not everything:
            return
        upserts = []
        for sid in upserts_ids:
            prepared = fresh.get(sid)
            if prepared is None or prepared[0].content_hash != local[sid]:
                prepared = self._prepare_again(winner_of(sid, self.claims[sid]))
            if prepared is not None:
                upserts.append(prepared)
        self._send(upserts, deletes, count)
        self.passes += 1
        if connected:
            log.info(
                "reconciled with %s by hash: %s sent, %d deleted, %d unchanged",
                self.where,
                counted(self.sent, "session"),
                len(deletes),
                count - self.sent,
            )
        elif upserts or deletes:
            log.debug(
                "synced %s, deleted %d, to %s",
                counted(len(upserts), "session"),
                len(deletes),
                self.where,
            )

    def _send(self, upserts: list, deletes: list, sessions: int) -> None:
        self._connected().mirror_apply(self.origin, upserts, deletes, sessions, self.owner)
        for record, _ in upserts:
            self.remote[record.session_id] = record.content_hash
        for sid in deletes:
            self.remote.pop(sid, None)
        self.sent += len(upserts)

    def _flush(self, fresh: dict) -> None:
        """Send what a full pass has read so far and the database lacks, then forget it."""
        chunk = [
            prepared
            for sid, prepared in fresh.items()
            if self.remote.get(sid) != prepared[0].content_hash
        ]
        if chunk:
            self._send(chunk, [], len(self.claims))
        fresh.clear()

    def _scan_all(self, fresh: dict) -> None:
        seen = set()
        for directory, stats in tree.session_files(self.root, skipped=[]):
            for stat in stats:
                key = (directory, stat.name)
                seen.add(key)
                self._consider(key, stat, fresh)
                if len(fresh) >= self.CHUNK:
                    self._flush(fresh)
        for key in [key for key in self.files if key not in seen]:
            self._set(key, None)

    def _look_at(self, key: tuple[str, str], fresh: dict) -> None:
        directory, name = key
        if not tree.is_session_name(directory, name):
            return
        path = (
            os.path.join(self.root, directory, name) if directory else os.path.join(self.root, name)
        )
        st = tree.regular_file_stat(path)
        if st is None:
            self._set(key, None)
            return
        stat = tree.FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        self._consider(key, stat, fresh)

    def _consider(self, key: tuple[str, str], stat: tree.FileStat, fresh: dict) -> None:
        signature = (stat.size, stat.mtime_ns, stat.ino, stat.ctime_ns)
        known = self.files.get(key)
        if known is not None and known.stat == signature:
            return
        prepared = self._read(key[0], stat)
        if prepared is None:
            self._set(key, None)
            return
        record = prepared[0]
        self._set(key, Known(signature, record.session_id, record.content_hash))
        fresh[record.session_id] = prepared

    def _read(self, directory: str, stat: tree.FileStat):
        """The session file's rows for the database, or None when it is not a readable session
        (the local index says why; the database simply does not get it)."""
        from mofa.documents import export_document
        from mofa.stores.postgres import records

        try:
            session = load_path(self.root, directory, stat)
            return records.prepared(
                session.session_id, export_document(session), session.file_mtime_ns
            )
        except (MofaError, ValueError, RecursionError):
            return None

    def _prepare_again(self, key: tuple[str, str]):
        directory, name = key
        path = (
            os.path.join(self.root, directory, name) if directory else os.path.join(self.root, name)
        )
        st = tree.regular_file_stat(path)
        if st is None:
            return None
        return self._read(
            directory, tree.FileStat(name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        )

    def _set(self, key: tuple[str, str], known: Known | None) -> None:
        """What a file now holds (None: no session), keeping the id -> files claims."""
        old = self.files.pop(key, None) if known is None else self.files.get(key)
        if old is not None:
            self.affected.add(old.session_id)
            holders = self.claims.get(old.session_id)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self.claims[old.session_id]
        if known is not None:
            self.files[key] = known
            self.claims.setdefault(known.session_id, set()).add(key)
            self.affected.add(known.session_id)

    def _hash_of(self, session_id: str) -> str | None:
        """The id's hash in the root (of files claiming it, the one `list` shows), or None."""
        holders = self.claims.get(session_id)
        return self.files[winner_of(session_id, holders)].content_hash if holders else None

    def _local_hashes(self) -> dict[str, str]:
        """id -> hash of every session of the root."""
        return {
            sid: self.files[winner_of(sid, holders)].content_hash
            for sid, holders in self.claims.items()
        }


def winner_of(session_id: str, holders) -> tuple[str, str]:
    """Of the (directory, file) pairs that claim one id, the one every local command shows:
    DESIGN's rule (`mofa.reading.claim_rank`). Paths relative to the root order as the
    root's own paths do: they share its prefix."""

    def rank(key: tuple[str, str]) -> tuple:
        directory, name = key
        return claim_rank(session_id, bool(directory), name, os.path.join(directory, name))

    return min(holders, key=rank)


def _gone_from_this_host(host: str, root: str) -> bool:
    """Whether the root an origin was recorded for is no longer a directory here (moved or
    removed): its origin may go to the root that mirrors now."""
    return host == default_origin() and not os.path.isdir(root)


def check_url(url: str) -> None:
    """Refuse a URL that names no PostgreSQL store before the watcher starts."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreUnavailable(f"--sync-to needs a postgresql:// URL, not {masked(url)}")
