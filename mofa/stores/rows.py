"""The rows the store interface speaks in (re-exported by `mofa.stores.base`): which sessions
a listing is about, one session as a listing knows it, one session found by `resolve`."""

# No `from __future__ import annotations` here: NamedTuple turns each string annotation into a
# compiled ForwardRef, which doubles the cost of defining the class on every command's start-up.
# Annotations here are evaluated, so they name only built-in types.

from typing import Any, NamedTuple


class SessionFilter(NamedTuple):
    """Which sessions a listing (or a search, or a prune) is about; every field narrows.

    Times are in the index's text form (`mofa.timestamps.precise_index_text`): `since` is inclusive,
    `until` exclusive. `limit` applies last: the `limit` most recent that pass, by `sort`:
    "created" (created_at) or "updated" (last activity: updated_at, else created_at).
    """

    agent: str | None = None
    limit: int | None = None
    since: str | None = None
    until: str | None = None
    statuses: tuple[str, ...] = ()
    user: str | None = None
    tags: tuple[str, ...] = ()
    origin: str | None = None
    sort: str = "created"


ALL = SessionFilter()  # every session: the default filter of a listing or a search


class SessionRow(NamedTuple):
    """One session as a listing knows it (the documented columns of the `sessions` relation)."""

    session_id: str
    agent: str
    name: str
    created_at: str | None
    updated_at: str | None
    message_count: int
    status: str
    user_id: str | None


def session_row_type(name: str, extra: list, doc: str, module: str, defaults: tuple = ()):
    """A row type of SessionRow's fields, then `extra` ((field, type) pairs), the last of them
    with `defaults`: each field of the family (the index's rows, a summary, a wide listing's
    rows, the PostgreSQL records) is declared once, here."""
    row = NamedTuple(name, [*SessionRow.__annotations__.items(), *extra])  # type: ignore[misc]
    if defaults:
        row.__new__.__defaults__ = defaults
        row._field_defaults = dict(zip(row._fields[-len(defaults) :], defaults, strict=True))
    row.__doc__ = doc
    row.__module__ = module  # where pickle (the parsing pool) finds it
    return row


class SessionRef(NamedTuple):
    """A session found by `resolve`. `handle` is the store's own, opaque to every caller:
    enough for that store to find the session again, never a path a caller may trust."""

    session_id: str
    agent: str
    name: str
    handle: Any = None
