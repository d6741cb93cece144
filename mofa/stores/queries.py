"""What a store's query returns (`mofa.stores.base` names it too): apart from the other result
types, which a query does not need (each NamedTuple costs a little to define, issue 16)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple


class QueryResult(NamedTuple):
    """A read-only query's column names and rows; `close` ends it early."""

    columns: list[str]
    rows: Iterator[tuple]
    close: Callable[[], None]
