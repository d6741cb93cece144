"""`mofa-indexd`: watch one sessions root and keep its index current."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from indexer.changes import Batch, PendingChanges
from indexer.index import SessionIndex
from indexer.location import resolve_index_path
from indexer.lock import AlreadyRunning, DaemonLock
from mofa import __version__
from mofa.errors import MofaError
from mofa.paths import resolve_sessions_root

log = logging.getLogger("mofa-indexd")


class IndexDaemon:
    """Reconciles at start, then applies batches of changes until stopped."""

    def __init__(self, root: str, index_path: str):
        self.root = root
        self.index_path = index_path
        self.pending = PendingChanges()
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        self.pending.close()

    def run(self) -> None:
        from watchdog.observers import Observer

        from indexer.watcher import OverflowListener, SessionEventHandler

        os.makedirs(self.root, exist_ok=True)
        index = SessionIndex(self.root, self.index_path, log.warning)
        overflow = OverflowListener(self.pending)
        logging.getLogger("watchdog").addHandler(overflow)
        observer = Observer()
        # Watch before reconciling: a change made meanwhile is both seen and reconciled.
        watched = os.path.realpath(self.root)  # watchdog does not follow a symlinked root
        observer.schedule(SessionEventHandler(self.root, self.pending), watched, recursive=True)
        observer.start()
        try:
            self._reconcile(index)
            log.info("watching %s (index %s)", self.root, self.index_path)
            while not self.stopping.is_set():
                batch = self.pending.take()
                if batch is None:
                    break
                self._apply(index, batch)
        finally:
            observer.stop()
            observer.join(timeout=5)
            logging.getLogger("watchdog").removeHandler(overflow)
            index.close()

    def _reconcile(self, index: SessionIndex) -> None:
        started = time.monotonic()
        result = index.refresh(None)
        for warning in result.warnings:
            log.warning("%s", warning)
        for error in index.bad_files():
            log.warning("skipped: %s", error)
        log.info("reconciled %d changes in %.2f s; %d sessions indexed", result.changed,
                 time.monotonic() - started, index.count())

    def _apply(self, index: SessionIndex, batch: Batch) -> None:
        try:
            if batch.everything:
                log.warning("events may have been lost: reconciling the whole root")
                self._reconcile(index)
            else:
                if batch.dirs:
                    result = index.refresh_dirs(sorted(batch.dirs))
                    for warning in result.warnings:
                        log.warning("%s", warning)
                for directory, names in batch.files.items():
                    if directory in batch.dirs:
                        continue
                    index.refresh_files(directory, sorted(names))
                log.debug("applied a batch: %d files, %d directories rescanned, %d handshakes",
                          sum(map(len, batch.files.values())), len(batch.dirs), len(batch.cookies))
            self._log_bad(index, batch)
        except Exception as error:  # whatever it is, keep running and reconcile next time
            log.error("could not apply changes (%s); reconciling the whole root next", error)
            self.pending.add_everything()
        finally:
            for cookie in batch.cookies:
                try:
                    os.unlink(cookie)
                except OSError:
                    pass

    def _log_bad(self, index: SessionIndex, batch: Batch) -> None:
        for directory, names in batch.files.items():
            for name in names:
                row = index.conn.execute("SELECT error FROM bad_files WHERE dir = ? AND file = ?",
                                         (directory, name)).fetchone()
                if row:
                    log.warning("skipped: %s", row[0])


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mofa-indexd",
        description="Watch a sessions root and keep its SQLite index current. Runs in the "
                    "foreground and logs to stderr; SIGTERM or SIGINT stop it (exit status 0).",
        epilog="Example: mofa-indexd --sessions-dir ~/.local/share/mofa/sessions -v")
    parser.add_argument("--sessions-dir", help="sessions root (default as for mofa)")
    parser.add_argument("--index", help="index file (default as for mofa)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    parser.add_argument("--version", action="version", version=f"mofa-indexd {__version__}")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="mofa-indexd: %(message)s")
    logging.getLogger("watchdog").setLevel(logging.WARNING)
    root = resolve_sessions_root(args.sessions_dir)
    index_path = resolve_index_path(root, args.index)
    daemon = IndexDaemon(root, index_path)
    lock = DaemonLock(index_path)
    try:
        os.makedirs(os.path.dirname(index_path), exist_ok=True)
        lock.acquire()
    except AlreadyRunning as error:
        log.error("%s (%s); not starting", error, root)
        sys.exit(1)
    except OSError as error:
        log.error("cannot lock the index %s: %s", index_path, error.strerror or error)
        sys.exit(3)

    def on_signal(number, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.info("received %s; stopping", signal.Signals(number).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
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
    log.info("stopped")
