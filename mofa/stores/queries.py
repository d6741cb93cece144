"""What a store's query returns (`mofa.stores.base` names it too): apart from the other result
types, which a query does not need (each NamedTuple costs a little to define)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from mofa.errors import QueryError, QueryTimeout, QueryTooLarge


class QueryResult(NamedTuple):
    """A read-only query's column names and rows; `close` ends it early."""

    columns: list[str]
    rows: Iterator[tuple]
    close: Callable[[], None]


MAX_BYTES = 64 * 1024 * 1024  # MOFA_QUERY_MAX_BYTES unless set


def max_bytes() -> int:
    """The largest value or row a query may print: MOFA_QUERY_MAX_BYTES, else 64 MiB."""

    text = os.environ.get("MOFA_QUERY_MAX_BYTES", "").strip()
    if not text:
        return MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise QueryError(f"MOFA_QUERY_MAX_BYTES={text!r}: give a positive number of bytes")
    return value


class QueryLimits:
    """A running query's time and size limits, the same for every store.

    The time counts from the start, whoever spends it: the database, or writing the output
    (checked at each row). At the deadline a timer thread calls `stop` once, so that the
    database stops even a statement that turned its own timeout off. A value or row is
    measured as it arrives (bytes count twice: they print as hex), before it is printed.
    """

    def __init__(self, timeout: float | None, stop: Callable[[], object] | None = None):
        import threading

        self.timeout = timeout or None
        self.max_bytes = max_bytes()
        self.expired = False
        self._deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self._timer = None
        if self.timeout is not None and stop is not None and self.timeout < threading.TIMEOUT_MAX:

            def expire() -> None:
                self.expired = True
                try:
                    stop()
                except Exception:  # a connection already gone: the next check still fails
                    pass

            self._timer = threading.Timer(self.timeout, expire)
            self._timer.daemon = True
            self._timer.start()

    def past_deadline(self) -> bool:

        if self._deadline is not None and not self.expired and time.monotonic() > self._deadline:
            self.expired = True
        return self.expired

    def timed_out(self) -> Exception:

        return QueryTimeout(
            f"query stopped after its timeout of {self.timeout:g} s"
            " (give --timeout SECONDS, 0 for none)"
        )

    def check_time(self) -> None:
        if self.past_deadline():
            raise self.timed_out()

    def row_size(self, row: tuple) -> int:
        """The printed size of `row` as far as it matters here; raises QueryTooLarge."""
        size = 0
        for value in row:
            kind = type(value)
            if kind is str:
                size += len(value)
            elif kind is bytes or kind is bytearray or kind is memoryview:
                size += 2 * len(value)
            else:
                continue
            if size > self.max_bytes:
                raise self.too_large()
        return size

    def too_large(self) -> Exception:
        from mofa.plurals import counted

        limit = counted(self.max_bytes, "byte", spec=",")
        return QueryTooLarge(
            f"query stopped: a value or row is larger than {limit} (MOFA_QUERY_MAX_BYTES)"
        )

    def close(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join()
