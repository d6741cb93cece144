"""`mofa-indexd`: watch one sessions root and keep its index current."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
import time

from indexer.index.database import epoch, replace_index_file
from indexer.index.location import resolve_index_path, root_lock_path
from indexer.index.private import make_private_dirs
from indexer.index.session_index import SessionIndex
from indexer.watch.changes import ChangeSet, PendingChanges
from indexer.watch.handshake import file_identity, is_cookie, nack_path, parse_cookie, root_digest
from indexer.watch.lock import (
    ANSWERING,
    DETACHED,
    FAILING,
    STARTING,
    AlreadyRunning,
    DaemonLock,
    WatcherRecord,
)
from indexer.watch.search_builder import SearchBuilder
from mofa import __version__, tree
from mofa.errors import IndexFailed, MofaError
from mofa.paths import resolve_sessions_root
from mofa.plurals import counted

log = logging.getLogger("mofa-indexd")
# Connections to index files that were deleted or replaced under the watcher: kept open until
# the process ends without closing them (see IndexDaemon._open_index).
ABANDONED: list = []


class IndexDaemon:
    """Reconciles at start, then applies batches of changes until stopped.

    It answers a handshake cookie only for its own root and index file, and only when every
    write before it succeeded (see indexer.watch.handshake). It notices its index file replaced,
    deleted or emptied (the file's identity or epoch changed) and rebuilds it; its root
    removed, recreated or renamed (the root's identity changed), and re-attaches to whatever
    directory the root's path names once there is one again.
    """

    CHECK_EVERY_S = 0.5  # how often an idle watcher looks at its root and index file
    BUILDER_STOP_S = 2.0  # a stop waits this long for the search data's batch in progress
    MAX_BACKOFF_S = 30.0

    def __init__(
        self,
        root: str,
        index_path: str,
        lock: DaemonLock | None = None,
        idle_exit: float | None = None,
        mirror=None,
        search: bool = True,
    ):
        self.root = root
        # Builds the search data in the background and keeps it current (--no-search: not).
        self.search = search
        self.builder: SearchBuilder | None = None
        # Started by a command (mofa's auto-start): exit after this many seconds without one
        # (no handshake cookie seen). A watcher started by a user never idles out.
        self.idle_exit = idle_exit
        self.last_command = time.monotonic()
        self.mirror = mirror  # indexer.mirror.Mirror with --sync-to: told of every batch
        self.index_path = index_path
        self.lock = lock
        self.pending = PendingChanges()
        self.stopping = threading.Event()
        self.index: SessionIndex | None = None
        self.index_fd: int | None = None
        self.index_had_header = False
        self.index_identity: tuple[int, int] | None = None
        self.epoch: str | None = None
        self.root_identity: tuple[int, int] | None = None
        self.root_digest = root_digest(root)
        self.failed = False  # the last write failed: no cookie is answered until one succeeds
        self.backoff = 0.0
        self.retry_at = 0.0
        self.record: WatcherRecord | None = None
        self.root_fd: int | None = None  # held open: the root's inode is not reused while watched
        # Session files with more than one link: a change made through another link is not
        # heard (inotify reports changes by the name they were made through), so these are
        # looked at again before each handshake is answered.
        self.linked: dict[str, set[str]] = {}

    def stop(self) -> None:
        self.stopping.set()
        self.pending.close()

    # -- the watcher's life ----------------------------------------------------------------
    def run(self) -> None:
        # Never makes the root: one that is missing (a typo, or removed) is waited for.
        if self.mirror is not None:
            self.mirror.start()
        try:
            while not self.stopping.is_set():
                if not self._wait_for_root():
                    break
                self._follow_root()
        finally:
            if self.mirror is not None:
                self.mirror.stop()
            self._close_root()
            self._let_go_of_index()

    def _close_root(self) -> None:
        if self.root_fd is not None:
            os.close(self.root_fd)
            self.root_fd = None

    def _publish(self, state: str) -> None:
        record = WatcherRecord(
            os.getpid(), self.root_identity, self.index_identity, state, self.idle_exit, self.epoch
        )
        if record != self.record:
            self.record = record
            if self.lock is not None:
                self.lock.record(record)

    def _wait_for_root(self) -> bool:
        """Wait until the root's path names a directory; False when stopped meanwhile."""
        warned = False
        while not self.stopping.is_set():
            try:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                fd = None
            if fd is not None:
                self._close_root()
                self.root_fd = fd
                st = os.fstat(fd)
                self.root_identity = (st.st_dev, st.st_ino)
                return True
            if not warned:
                log.warning("the sessions root %s is gone; waiting for it to come back", self.root)
                warned = True
            if self._idle_too_long(time.monotonic()):  # no command can come without a root
                return False
            self.stopping.wait(self.CHECK_EVERY_S / 2)
        return False

    def _follow_root(self) -> None:
        """Watch the root found by _wait_for_root until it is no longer the root's path."""
        # Until the reconcile below is done, commands refresh by themselves rather than wait
        # for an answer that may take seconds (the first command after an auto-start).
        self._publish(STARTING)
        from watchdog.observers import Observer

        from indexer.watch.watcher import SessionEventHandler, wanted_events

        observer = Observer()
        # Watch before reconciling: a change made meanwhile is both seen and reconciled.
        watched = os.path.realpath(self.root)  # watchdog does not follow a symlinked root
        handler = SessionEventHandler(self.root, self.pending)
        try:
            observer.schedule(handler, watched, recursive=True, event_filter=wanted_events())
        except TypeError:  # a watchdog without event_filter: every event, the unwanted ignored
            observer.schedule(handler, watched, recursive=True)
        observer.start()
        try:
            # Cookies made before the watch began are answered once the reconcile is done.
            self._apply(ChangeSet(everything=True, cookies=self._cookies_present()), quiet=True)
            log.info("watching %s (index %s)", self.root, self.index_path)
            next_check = time.monotonic() + self.CHECK_EVERY_S
            while not self.stopping.is_set():
                batch = self.pending.take(timeout=self._idle_timeout())
                if batch is None:
                    break
                now = time.monotonic()
                if batch.cookies:
                    self.last_command = now
                elif self._idle_too_long(now):
                    break
                index_gone = False
                if batch or now >= next_check:
                    next_check = now + self.CHECK_EVERY_S
                    if file_identity(self.root) != self.root_identity:
                        self._detached(batch)
                        return
                    # Its index file deleted or replaced: let go of it (and stop the search
                    # build writing into it) now, not at the next change in the root.
                    index_gone = self.index is not None and (
                        file_identity(self.index_path) != self.index_identity
                    )
                if batch or index_gone or (self.failed and now >= self.retry_at):
                    self._apply(batch)
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _idle_too_long(self, now: float) -> bool:
        if self.idle_exit is None or now - self.last_command < self.idle_exit:
            return False
        log.info("no command for %g s (started by a command, --idle-exit); exiting", self.idle_exit)
        self.stop()
        return True

    def _idle_timeout(self) -> float:
        if self.failed:
            return max(min(self.retry_at - time.monotonic(), self.CHECK_EVERY_S), 0.01)
        return self.CHECK_EVERY_S

    def _detached(self, batch: ChangeSet) -> None:
        log.warning(
            "the sessions root %s was removed, renamed or replaced; re-attaching", self.root
        )
        self._publish(DETACHED)
        for cookie in batch.cookies:
            self._refuse(cookie)

    def _cookies_present(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return [os.path.join(self.root, name) for name in names if is_cookie(name)]

    # -- the search data -------------------------------------------------------------------
    def _keep_search_current(self) -> None:
        """After a successful write: the builder, started with the index's first, reads what
        changed into the search data."""
        if not self.search or self.index is None:
            return
        if self.builder is None:
            self.builder = SearchBuilder(
                self.root, self.index_path, self.index_identity, self.epoch
            )
            self.builder.start()
        else:
            self.builder.wake()

    def _stop_builder(self) -> sqlite3.Connection | None:
        """Stop the builder (after the batch it is writing); its connection, for the caller
        to close or abandon with its own (None: none, or still in use: abandoned here)."""
        builder, self.builder = self.builder, None
        if builder is None:
            return None
        if not builder.stop(self.BUILDER_STOP_S):
            log.warning("the search data builder did not stop in time; leaving it")
            if builder.conn is not None:
                ABANDONED.append((builder.conn, None))
            return None
        return builder.conn

    # -- the index file --------------------------------------------------------------------
    def _open_index(self) -> None:
        self._let_go_of_index()
        self.index = SessionIndex(self.root, self.index_path, log.warning)
        # Held open to read the file's header: only a descriptor that stays open may be used,
        # since closing any descriptor of a file drops the process's POSIX locks on it, and
        # with them SQLite's (another process could then delete the WAL under this one).
        self.index_fd = os.open(self.index_path, os.O_RDONLY)
        self.index_had_header = False
        st = os.fstat(self.index_fd)
        self.index_identity = (st.st_dev, st.st_ino)
        self.epoch = epoch(self.index.conn)
        if file_identity(self.index_path) != self.index_identity:
            raise OSError(f"the index file {self.index_path} changed while it was opened")

    def _opened(self) -> SessionIndex:
        if self.index is None:  # never: batches and reconciles run while the index is open
            raise IndexFailed(f"the index {self.index_path} is not open")
        return self.index

    def _let_go_of_index(self) -> None:
        builder_conn = self._stop_builder()
        if self.index is None:
            return
        if file_identity(self.index_path) == self.index_identity:
            # The same file (emptied or overwritten in place, or the watcher stopping): let go
            # of it and of the lock that holds every other opener back.
            damaged = not self.stopping.is_set() and not self._index_is_mine()
            if builder_conn is not None:
                builder_conn.close()
            self.index.close()
            if self.index_fd is not None:
                os.close(self.index_fd)
            if damaged:
                replace_index_file(self.index_path, self.root)
        else:
            # Never close a connection whose file was deleted or replaced: SQLite's close
            # checkpoints and then deletes "<path>-wal" and "<path>-shm" by name, which now
            # belong to the new file, and whoever uses it would lose its commits.
            ABANDONED.append((self.index.conn, self.index_fd))
            if builder_conn is not None:
                ABANDONED.append((builder_conn, None))
        self.index = None
        self.index_fd = None

    def _index_is_mine(self) -> bool:
        """True while the file at the index path is the one this watcher filled: not deleted,
        not replaced, not emptied or adopted by another root's command meanwhile."""
        if (
            self.index is None
            or self.index_fd is None
            or file_identity(self.index_path) != self.index_identity
        ):
            return False
        try:  # overwritten or emptied in place?
            header = os.pread(self.index_fd, 16, 0)
        except OSError:
            return False
        # A new index in WAL mode may have an empty main file until its first checkpoint;
        # once it has a header, it never loses it.
        if header:
            if header != b"SQLite format 3\x00":
                return False
            self.index_had_header = True
        elif self.index_had_header:
            return False
        try:
            return epoch(self.index.conn) == self.epoch
        except sqlite3.DatabaseError:
            return False

    # -- applying changes ------------------------------------------------------------------
    def _apply(self, batch: ChangeSet, quiet: bool = False) -> None:
        if self.mirror is not None:
            self.mirror.note(batch)  # the database follows the files, whatever the index does
        answered = changed_files = False
        try:
            if self.failed and time.monotonic() < self.retry_at:
                # Backing off after a failed write: what changed is covered by the full
                # reconcile the retry does; meanwhile no handshake is answered.
                return
            everything = batch.everything or self.failed
            if self.index is None or not self._index_is_mine():
                if self.index is not None:
                    log.warning(
                        "the index file %s was deleted, replaced or emptied; rebuilding it",
                        self.index_path,
                    )
                    quiet = True
                self._open_index()
                everything = True
            if everything:
                if not quiet and not self.failed:
                    log.warning("events may have been lost: reconciling the whole root")
                self._reconcile()
            else:
                self._apply_changes(batch)
            if batch.cookies:
                self._refresh_linked()
            self._log_bad(batch)
            if not self._index_is_mine():
                raise OSError(f"the index file {self.index_path} changed while it was written")
            answered = True
            changed_files = everything or bool(batch.dirs or batch.files)
            if self.failed:
                log.info("writing the index works again")
            self.failed, self.backoff = False, 0.0
            self._publish(ANSWERING)
        except Exception as error:  # whatever it is, keep running and reconcile next time
            self.failed = True
            self.backoff = min(max(self.backoff * 2, 0.5), self.MAX_BACKOFF_S)
            self.retry_at = time.monotonic() + self.backoff
            log.error(
                "could not apply changes (%s); reconciling the whole root in %.1f s",
                error,
                self.backoff,
            )
            self._publish(FAILING)
        finally:
            for cookie in batch.cookies:
                self._answer(cookie, answered)
        # Only once the commands waiting on this batch have their answer, and only when files
        # changed: woken by every handshake, the builder took the GIL from the next answers
        # (a listing with the watcher cost 2-4 ms more). A search reads anything left itself.
        if answered and (changed_files or self.builder is None):
            self._keep_search_current()

    def _apply_changes(self, batch: ChangeSet) -> None:
        index = self._opened()
        if batch.dirs:
            result = index.refresh_dirs(sorted(batch.dirs))
            for warning in result.warnings:
                log.warning("%s", warning)
            for directory in batch.dirs:
                self._note_links_in_dir(directory)
        for directory, names in batch.files.items():
            if directory in batch.dirs:
                continue
            index.refresh_files(directory, sorted(names))
            self._note_links(directory, names)
        log.debug(
            "applied a batch: %s, %s rescanned, %s",
            counted(sum(map(len, batch.files.values())), "file"),
            counted(len(batch.dirs), "directory", "directories"),
            counted(len(batch.cookies), "handshake"),
        )

    def _reconcile(self) -> None:
        started = time.monotonic()
        index = self._opened()
        result = index.refresh(None)
        for warning in result.warnings:
            log.warning("%s", warning)
        for error in index.bad_files():
            log.warning("skipped: %s", error)
        self.linked = {}
        for directory, files in tree.session_files(self.root, skipped=[]):
            self._note_links(directory, [stat.name for stat in files])
        log.info(
            "reconciled %s in %.2f s; %s indexed",
            counted(result.changed, "change"),
            time.monotonic() - started,
            counted(index.count(), "session"),
        )

    # -- files with several links ----------------------------------------------------------
    def _note_links(self, directory: str, names) -> None:
        base = os.path.join(self.root, directory) if directory else self.root
        linked = self.linked.setdefault(directory, set())
        for name in names:
            try:
                many = os.lstat(os.path.join(base, name)).st_nlink > 1
            except OSError:
                many = False
            if many:
                linked.add(name)
            else:
                linked.discard(name)
        if not linked:
            del self.linked[directory]

    def _note_links_in_dir(self, directory: str) -> None:
        self.linked.pop(directory, None)
        try:
            files = (
                tree.scan_agent_dir(os.path.join(self.root, directory))
                if directory
                else tree.scan_root(self.root).jsonl
            )
        except MofaError:
            return
        self._note_links(directory, [stat.name for stat in files or []])

    def _refresh_linked(self) -> None:
        for directory, names in list(self.linked.items()):
            if self._opened().refresh_files(directory, sorted(names)):
                log.debug("a file of %s changed through another link", directory or "the root")
            self._note_links(directory, list(names))

    # -- answering handshakes --------------------------------------------------------------
    def _answer(self, path: str, vouched: bool) -> None:
        cookie = parse_cookie(os.path.basename(path))
        if cookie is None or (cookie.index_dev, cookie.index_ino) != self.index_identity:
            return  # a cookie for another index (another watcher's): not for this one to answer
        if vouched and cookie.epoch == self.epoch and cookie.root_digest == self.root_digest:
            try:
                os.unlink(path)
            except OSError:
                pass
        else:
            self._refuse(path)

    def _refuse(self, path: str) -> None:
        cookie = parse_cookie(os.path.basename(path))
        if cookie is None or (cookie.index_dev, cookie.index_ino) != self.index_identity:
            return
        try:
            os.rename(path, nack_path(path))
        except OSError:
            pass

    def _log_bad(self, batch: ChangeSet) -> None:
        for directory, names in batch.files.items():
            for name in names:
                error = self._opened().bad_file_error(directory, name)
                if error is not None:
                    log.warning("skipped: %s", error)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _log_to_stderr(level: int) -> None:
    """Each line stamped with the time in ISO 8601, UTC, to the millisecond."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ mofa-indexd: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mofa-indexd",
        description="Watch a sessions root and keep its SQLite index current. Runs in the "
        "foreground and logs to stderr; SIGTERM, SIGINT or SIGHUP stop it (exit status 0).",
        epilog="Example: mofa-indexd --sessions-dir ~/.local/share/mofa/sessions -v",
    )
    parser.add_argument("--sessions-dir", help="sessions root (default as for mofa)")
    parser.add_argument("--index", help="index file (default as for mofa)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit after SECONDS without a command (mofa's auto-start sets it;"
        " by default the watcher runs until stopped)",
    )
    parser.add_argument(
        "--sync-to",
        metavar="URL",
        help="also mirror the root into this PostgreSQL store (postgresql://...)",
    )
    parser.add_argument(
        "--origin",
        metavar="NAME",
        help="the name the mirrored sessions carry (default: the host name); an origin"
        " belongs to one root: one that another root mirrors is refused (exit 1)",
    )
    parser.add_argument(
        "--no-search",
        action="store_true",
        help="do not build the search data in the background (the first search builds it)",
    )
    parser.add_argument("--version", action="version", version=f"mofa-indexd {__version__}")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = _parse_args(argv)
    _log_to_stderr(logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("watchdog").setLevel(logging.WARNING)
    root = resolve_sessions_root(args.sessions_dir)
    index_path = resolve_index_path(root, args.index)
    lock = DaemonLock(index_path)
    # One watcher per root, whatever index it writes: a second lock, named for the root alone.
    root_lock = DaemonLock(root_lock_path(root))
    idle_exit = args.idle_exit if args.idle_exit is not None and args.idle_exit > 0 else None
    mirror = None
    if args.sync_to:
        from indexer.mirror import Mirror, check_url

        try:
            check_url(args.sync_to)
        except MofaError as error:
            log.error("%s", error)
            sys.exit(2)
        mirror = Mirror(root, args.sync_to, args.origin)
        log.info("mirroring %s to %s as origin %r", root, mirror.where, mirror.origin)
    if not os.path.isdir(root):
        # A watcher never creates its root (a typo would become an empty root and index).
        log.error("the sessions root %s does not exist or is not a directory; not starting", root)
        sys.exit(1)
    daemon = IndexDaemon(root, index_path, lock, idle_exit, mirror, search=not args.no_search)
    if mirror is not None:
        mirror.on_refused = daemon.stop  # its origin is another root's: exit 1, said why
    try:
        make_private_dirs(os.path.dirname(index_path))
        make_private_dirs(os.path.dirname(root_lock.path))
        root_lock.acquire()
        try:
            lock.acquire()
        except BaseException:
            root_lock.release()
            raise
    except AlreadyRunning as error:
        log.error("%s (%s); not starting", error, root)
        sys.exit(1)
    except OSError as error:
        log.error("cannot lock the index %s: %s", index_path, error.strerror or error)
        sys.exit(3)

    received: list[str] = []

    def on_signal(number, frame):
        # No logging here: a signal that lands while the main thread writes to stderr would
        # make the handler's write re-enter the stream (RuntimeError), and the stop be lost.
        for stopping in STOP_SIGNALS:
            signal.signal(stopping, signal.SIG_IGN)
        received.append(signal.Signals(number).name)
        daemon.stop()

    for stopping in STOP_SIGNALS:
        signal.signal(stopping, on_signal)
    try:
        daemon.run()
    except MofaError as error:
        log.error("%s", error)
        sys.exit(3)
    except OSError as error:
        log.error("%s", error.strerror or error)
        sys.exit(3)
    finally:
        lock.release()
        root_lock.release()
    refused = mirror is not None and mirror.refused is not None
    if mirror is not None and refused:
        log.info("stopped: origin %r belongs to another root", mirror.origin)
    elif received:
        log.info("received %s; stopped", received[0])
    else:
        log.info("stopped")
    if ABANDONED:
        # Closing them, as the interpreter would on its way out, could delete the WAL of the
        # index file now at their path: end here instead.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(1 if refused else 0)
    if refused:
        sys.exit(1)


if __name__ == "__main__":
    main()
