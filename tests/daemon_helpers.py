"""Starting and stopping the real mofa-indexd for the tests, with bounded waits."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import threading
import time

from tests.helpers import BIN


class RunningDaemon:
    def __init__(self, root, index_path, extra_args=(), env=None, prefix=()):
        self.index_path = index_path
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        full_env = dict(os.environ, **(env or {}))
        self.process = subprocess.Popen(
            [
                *prefix,
                str(BIN / "mofa-indexd"),
                "--sessions-dir",
                str(root),
                "--index",
                str(index_path),
                "-v",
                *extra_args,
            ],
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for_log(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        for line in self.log:
            if text in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            self.log.append(line)
            if text in line:
                return line
        raise AssertionError(f"mofa-indexd never logged {text!r}; log: {''.join(self.log)}")

    def wait_for_count(self, text: str, count: int, timeout: float = 30.0) -> None:
        """Wait until `text` has been logged on `count` lines."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.log) < count:
            try:
                self.log.append(self.lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                raise AssertionError(
                    f"mofa-indexd logged {text!r} fewer than {count} times; "
                    f"log: {''.join(self.log)}"
                ) from None

    def drain(self) -> str:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.log)

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        # A process it left behind (a parsing worker) would hold its stderr open: closing the
        # pipe under the blocked reader would hang the test run, so that is a failure instead.
        assert not self.reader.is_alive(), "mofa-indexd left a process holding its stderr"
        self.process.stderr.close()
        return code


def index_rows(index_path) -> dict[str, tuple]:
    try:
        conn = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return {}  # not created yet
    try:
        return {
            row[0]: row[1:]
            for row in conn.execute("SELECT session_id, message_count, status FROM sessions")
        }
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.02):
    """Poll `predicate` until it holds (bounded); return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
