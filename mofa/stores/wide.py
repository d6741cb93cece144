"""The row of a wide listing (`list --wide`): apart from `mofa.stores.rows` because only a wide
listing needs it (each NamedTuple costs a little to define on every command's start-up)."""

# No `from __future__ import annotations`: see mofa.stores.rows.

from typing import NamedTuple


class WideRow(NamedTuple):
    """`SessionRow`'s fields, then the session's title (`mofa.session.title_of`), then its origin
    when the store holds sessions of several (else None)."""

    session_id: str
    agent: str
    name: str
    created_at: str | None
    updated_at: str | None
    message_count: int
    status: str
    user_id: str | None
    title: str | None
    origin: str | None = None


def activity_key(row) -> tuple:
    """The order of `list --sort updated`: last activity (unknown first), ties by session_id."""
    return (row.updated_at or row.created_at or "", row.session_id)
