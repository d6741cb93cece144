"""The freshness handshake between a command and a running mofa-indexd (Watchman's cookies).

The command creates a cookie file in the watched root. Inotify reports events in order, so by
the time the watcher sees the cookie it has seen every change made before the command
started; it applies them to the index, then deletes the cookie. A command that sees its
cookie gone can read the index without stat-ing the tree.
"""

from __future__ import annotations

import os
import time

COOKIE_PREFIX = ".mofa-cookie-"
DEFAULT_TIMEOUT_S = 2.0


def is_cookie(name: str) -> bool:
    return name.startswith(COOKIE_PREFIX)


def confirm(root: str, timeout: float = DEFAULT_TIMEOUT_S) -> float | None:
    """Seconds the watcher took to acknowledge a new cookie, or None when it did not."""
    path = os.path.join(root, f"{COOKIE_PREFIX}{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return None  # a read-only or missing root: the command refreshes by itself
    started = time.monotonic()
    deadline = started + timeout
    pause = 0.0002
    while True:
        if not os.path.lexists(path):
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.001)  # the watcher answers in a few ms: don't oversleep
    try:
        os.unlink(path)
    except OSError:
        pass
    return None
