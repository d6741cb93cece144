"""Changes heard from the file system, gathered until the watcher applies them as one batch."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class ChangeSet:
    """What to refresh: everything, whole directories, or single files; and cookies to answer."""

    everything: bool = False
    dirs: set[str] = field(default_factory=set)
    files: dict[str, set[str]] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.everything or bool(self.dirs or self.files or self.cookies)


class PendingChanges:
    """A thread-safe accumulator: the event thread adds, the worker takes a coalesced batch."""

    def __init__(self, settle_s: float = 0.01, max_wait_s: float = 0.2):
        self._condition = threading.Condition()
        self._batch = ChangeSet()
        self._closed = False
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self._last_add = 0.0

    def _added(self) -> None:
        self._last_add = time.monotonic()
        self._condition.notify_all()

    def add_file(self, directory: str, name: str) -> None:
        with self._condition:
            self._batch.files.setdefault(directory, set()).add(name)
            self._added()

    def add_dir(self, directory: str) -> None:
        with self._condition:
            self._batch.dirs.add(directory)
            self._added()

    def add_everything(self) -> None:
        with self._condition:
            self._batch.everything = True
            self._added()

    def add_cookie(self, path: str) -> None:
        with self._condition:
            self._batch.cookies.append(path)
            self._added()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def take(self, timeout: float | None = None) -> ChangeSet | None:
        """Wait for changes, let a burst settle (bounded), and return them; None once closed,
        an empty ChangeSet when `timeout` passes without changes."""
        with self._condition:
            if timeout is None:
                while not self._batch and not self._closed:
                    self._condition.wait()
            else:
                give_up = time.monotonic() + timeout
                while not self._batch and not self._closed:
                    left = give_up - time.monotonic()
                    if left <= 0:
                        return ChangeSet()
                    self._condition.wait(left)
            if self._closed:
                return None
            first = time.monotonic()
            # A cookie is answered at once; a burst of writes is gathered a little first.
            while not self._batch.cookies and not self._closed:
                now = time.monotonic()
                quiet_until = self._last_add + self.settle_s
                if now >= quiet_until or now >= first + self.max_wait_s:
                    break
                self._condition.wait(min(quiet_until, first + self.max_wait_s) - now)
            batch, self._batch = self._batch, ChangeSet()
            return batch
