"""The row of a wide listing (`list --wide`): apart from `mofa.stores.rows` because only a wide
listing needs it (each NamedTuple costs a little to define on every command's start-up)."""

# No `from __future__ import annotations`: see mofa.stores.rows.

from typing import TYPE_CHECKING, Any, TypeAlias

from mofa.stores.rows import session_row_type

if TYPE_CHECKING:  # a type made at run time from SessionRow's fields: opaque to mypy
    WideRow: TypeAlias = Any
else:
    WideRow = session_row_type(
        "WideRow",
        [("title", str | None), ("origin", str | None)],
        "`SessionRow`'s fields, then the session's title (`mofa.session.title_of`), then its origin"
        " when the store holds sessions of several (else None).",
        __name__,
        defaults=(None,),
    )


def activity_key(row) -> tuple:
    """The order of `list --sort updated`: last activity (unknown first), ties by session_id."""
    return (row.updated_at or row.created_at or "", row.session_id)
