"""What a store's search, rebuild and verify return (`mofa.stores.base` names them too).

Apart from `mofa.stores.base` because a listing never needs them: each NamedTuple costs a
little to define, and the listing path is budgeted (tests/cli/test_startup_cost.py).
"""

from __future__ import annotations

from typing import NamedTuple

from mofa.stores.queries import QueryResult  # noqa: F401 (named here too)


class SearchHit(NamedTuple):
    """One session that matches a search. `snippet` is the text around its first match, each
    match between `mofa.searching.MARK_START` and `MARK_END`, as stored: escape it before a
    terminal shows it."""

    session_id: str
    agent: str
    created_at: str | None
    matches: int
    snippet: str
    message: int | None = None  # the first matching message's position, from 1 (show --messages)


class UpkeepResult(NamedTuple):
    """What a rebuild or repair did."""

    sessions: int
    unreadable: int
    warnings: list[str]


class Problem(NamedTuple):
    """A disagreement between a store's index and its source of truth."""

    kind: str  # missing | extra | stale | duplicate
    where: str
    detail: str


class VerifyReport(NamedTuple):
    examined: int
    problems: list[Problem]


class CachedIndex(NamedTuple):
    """One index file of the cache directory."""

    path: str
    root: str | None  # None: the file does not say (not an index, or unreadable)
    root_exists: bool
    size_bytes: int
    watcher_pid: int | None
