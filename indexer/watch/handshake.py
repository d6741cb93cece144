"""The freshness handshake between a command and a running mofa-indexd (Watchman's cookies).

The command creates a cookie file in the watched root. Inotify reports events in order, so by
the time the watcher sees the cookie it has seen every change made before the command
started; it applies them to the index, then deletes the cookie. A command that sees its
cookie gone can read the index without stat-ing the tree.

A deleted cookie must prove that the watcher of *this* root, writing *this* index file, applied
every change: so the cookie's name carries what the command sees, the index file's identity
(st_dev, st_ino), the index's epoch (a token an index gets when it is created or adopted by a
root) and a digest of the root's real path. A watcher acknowledges only a cookie that names its
own index, epoch and root, and only when its writes succeeded. A cookie of another watcher's
index it leaves alone; one of its own index it cannot vouch for (a failed write, another root
through a bind mount, an index replaced under it) it renames to a "nack", so that the command
refreshes by itself at once instead of waiting for the timeout.
"""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import os
import time
from stat import S_IFREG
from typing import NamedTuple

from indexer.watch.lock import watcher_record

COOKIE_PREFIX = ".mofa-cookie-"
NACK_PREFIX = ".mofa-nack-"
DEFAULT_TIMEOUT_S = 2.0
# The watcher deletes a cookie within ~0.3-1 ms of its creation when idle (inotify, then
# watchdog's threads, then one look at the index): the command looks every 50 us during the
# first 2 ms, so that it oversleeps the answer by little, then less and less often.
FIRST_PAUSE_S = 0.00005
QUICK_ANSWER_S = 0.002
MAX_PAUSE_S = 0.001


class Cookie(NamedTuple):
    """What a command asks a watcher to vouch for."""

    index_dev: int
    index_ino: int
    epoch: str
    root_digest: str


def is_cookie(name: str) -> bool:
    return name.startswith(COOKIE_PREFIX)


def root_digest(root: str) -> str:
    """A short digest of the root's real path, as the process that computes it sees it: 64-bit
    FNV-1a, a few microseconds for a path where importing zlib cost every command ~0.2 ms.
    (The cookie also names the index's identity and epoch: this only tells roots apart.)"""
    digest = 0xCBF29CE484222325
    for byte in os.fsencode(os.path.realpath(root)):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFF_FFFF_FFFF_FFFF
    return f"{digest:016x}"


def file_identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a path, None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def cookie_name(cookie: Cookie) -> str:
    return (
        f"{COOKIE_PREFIX}{os.getpid()}-{time.monotonic_ns()}-{cookie.index_dev}-"
        f"{cookie.index_ino}-{cookie.epoch}-{cookie.root_digest}"
    )


def parse_cookie(name: str) -> Cookie | None:
    """The Cookie a cookie file's name carries; None for a name that carries none."""
    if not is_cookie(name):
        return None
    parts = name[len(COOKIE_PREFIX) :].split("-")
    if len(parts) != 6 or not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return Cookie(int(parts[2]), int(parts[3]), parts[4], parts[5])


def nack_path(cookie_path: str) -> str:
    directory, name = os.path.split(cookie_path)
    return os.path.join(directory, NACK_PREFIX + name[len(COOKIE_PREFIX) :])


def confirm(
    root: str, index_path: str, epoch: str | None, timeout: float = DEFAULT_TIMEOUT_S
) -> float | None:
    """Seconds the watcher of `root` writing the index at `index_path` (whose epoch, as this
    process read it, is `epoch`) took to acknowledge a new cookie; None when it did not."""

    identity = file_identity(index_path)
    if identity is None or not epoch:
        return None
    record = watcher_record(index_path)
    # The watcher's record is a hint that spares the wait when it cannot answer: detached
    # from its root, failing to write, or watching another root or index file. The cookie
    # is the proof.
    if record is not None and not record.may_answer(file_identity(root), identity):
        return None
    cookie = Cookie(identity[0], identity[1], epoch, root_digest(root))
    path = os.path.join(root, cookie_name(cookie))
    if not _create(path):
        return None  # a read-only or missing root: the command refreshes by itself
    return _wait(path, time.monotonic(), timeout)


class Question:
    """A cookie made before the command opened the index (see ask)."""

    __slots__ = ("path", "cookie", "started")

    def __init__(self, path: str, cookie: Cookie, started: float):
        self.path, self.cookie, self.started = path, cookie, started

    def withdraw(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        _answered(self.path, None)  # and its nack, if the watcher refused it meanwhile


def ask(root: str, index_path: str, record) -> Question | None:
    """Make the cookie before the command opens the index, so that the watcher answers while
    the command imports SQLite and opens it: the cookie names the index epoch the watcher's
    record says it writes, and `answer` checks that the index the command opened has it. None
    when no running watcher's record says it may answer with an epoch (an older watcher: the
    command asks with confirm_index once the index is open). `record` is the watcher's
    (indexer.watch.lock.watcher_record)."""
    identity = file_identity(index_path)
    if (
        record is None
        or not record.epoch
        or identity is None
        or not record.may_answer(file_identity(root), identity)
    ):
        return None
    cookie = Cookie(identity[0], identity[1], record.epoch, root_digest(root))
    path = os.path.join(root, cookie_name(cookie))
    if not _create(path):
        return None
    return Question(path, cookie, time.monotonic())


def answer(question: Question, index, timeout: float = DEFAULT_TIMEOUT_S) -> float | None:
    """Seconds the watcher took to acknowledge `question` (from ask) for a command holding
    `index` (a SessionIndex) open; None when it did not, or when the index the command's
    connection reads is not the one the cookie named (another file, another epoch: replaced
    or adopted since the watcher last published its record)."""
    from indexer.index.database import epoch

    cookie = question.cookie
    try:
        current = None if index.in_memory else epoch(index.conn)
    except Exception:  # an unreadable index is refreshed (and repaired) by the command
        current = None
    if current != cookie.epoch or file_identity(index.path) != (cookie.index_dev, cookie.index_ino):
        question.withdraw()
        return None
    return _wait(question.path, question.started, timeout)


def _wait(path: str, started: float, timeout: float) -> float | None:
    """Wait (bounded) for the watcher to delete the cookie at `path`, made at `started`."""
    deadline = started + timeout
    pause = FIRST_PAUSE_S
    while True:
        if not os.path.lexists(path):
            return _answered(path, time.monotonic() - started)
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(pause)
        if now - started >= QUICK_ANSWER_S:  # a slow answer (a batch being applied): back off
            pause = min(pause * 2, MAX_PAUSE_S)
    try:
        os.unlink(path)
    except OSError:
        pass
    return _answered(path, None)


def _create(path: str) -> bool:
    """Create the empty cookie file. mknod makes it without opening it: one inotify event
    (created) for the watcher to wake up for, not three (created, opened, closed)."""
    try:
        os.mknod(path, S_IFREG | 0o600)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system that makes no file with mknod
        pass
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    return True


def _answered(path: str, waited: float | None) -> float | None:
    """`waited`, unless the watcher refused the cookie (renamed it to a nack)."""
    try:
        os.unlink(nack_path(path))
    except FileNotFoundError:
        return waited
    except OSError:
        pass
    return None


def confirm_index(root: str, index) -> float | None:
    """confirm() for a command holding `index` (a SessionIndex) open: the cookie names the
    epoch its connection reads, so that an index replaced after it was opened is not vouched
    for."""
    from indexer.index.database import epoch

    try:
        current = epoch(index.conn)
    except Exception:  # an unreadable index is refreshed (and repaired) by the command
        return None
    return confirm(root, index.path, current)
