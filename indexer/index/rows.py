"""The index's rows with named fields; every SQL column list is derived from them."""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from mofa.reading import claim_rank, duplicate_warning
from mofa.session import JSON_LAYOUT
from mofa.stores.rows import session_row_type


class StatKey(NamedTuple):
    """The stat fields that reveal a change of a file."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


if TYPE_CHECKING:  # a type made at run time from SessionRow's fields: opaque to mypy
    IndexRow: TypeAlias = Any
else:
    IndexRow = session_row_type(
        "IndexRow",
        [
            ("tags", str | None),  # metadata.tags as a JSON array of strings, NULL when it has none
            ("title", str | None),  # mofa.session.title_of
            ("path", str),
            ("layout", str),
            ("dir", str),
            ("file", str),
            ("size", int),
            ("mtime_ns", int),
            ("inode", int),
            ("ctime_ns", int),
        ],
        "One row of `sessions`: the documented columns, then where the file is and its stat.",
        __name__,
    )


class BadRow(NamedTuple):
    """One row of `bad_files`: a file that is not (or not now) a listed session."""

    dir: str
    file: str
    path: str
    error: str
    duplicate_of: str | None
    session_id: str | None  # the id the file's name gives (a MoFA file), so it stays addressable
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


def columns(row_type) -> str:
    return ", ".join(row_type._fields)


def insert_sql(table: str, row_type, verb: str = "INSERT") -> str:
    return (
        f"{verb} INTO {table} ({columns(row_type)})"
        f" VALUES ({', '.join('?' * len(row_type._fields))})"
    )


INT64_MAX = 2**63 - 1


def clamp_int64(value: int) -> int:
    """An integer SQLite can hold (an mtime set beyond year 2262 does not fit 64 bits)."""
    return max(min(value, INT64_MAX), -INT64_MAX)


def tags_text(tags: list[str]) -> str:
    """The `tags` column: `json.dumps(tags, ensure_ascii=False)` (written by hand for plain
    printable ASCII tags, which need no escape), a lone surrogate kept as an escape."""
    joined = "".join(tags)
    if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
        return '["' + '", "'.join(tags) + '"]'
    import json

    text = json.dumps(tags, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # SQLite holds UTF-8
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def row_claim(row: IndexRow) -> tuple:
    """`mofa.reading.claim_rank` of a row's file: the least of one id's rows stays listed."""
    return claim_rank(row.session_id, row.layout == JSON_LAYOUT, row.file, row.path)


def as_duplicate(row: IndexRow, winner_path: str) -> BadRow:
    return BadRow(
        row.dir,
        row.file,
        row.path,
        duplicate_warning(row.path, winner_path, row.session_id),
        row.session_id,
        row.session_id,
        row.size,
        row.mtime_ns,
        row.inode,
        row.ctime_ns,
    )
