"""`mofa session query`, and its rows as a table, JSON or CSV.

JSON and CSV stream row by row, as UTF-8 (see console.document_writer). The table has to see
every row before it can draw a column's width, so it holds at most TABLE_ROW_LIMIT rows.
"""

from __future__ import annotations

import math
import os
import sys

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.console import document_writer
from mofa.cli.options import output_format_option

TABLE_ROW_LIMIT = 10_000


@click.command()
@click.argument("sql")
@output_format_option("table", "json", "csv")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    callback=lambda ctx, param, value: _finite(value),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop the query after this long (0: no limit).",
)
@pass_app
def query(app: App, sql, fmt, timeout):
    """Run read-only SQL over the relations `sessions` and `messages`, refreshed first.

    `sessions` holds one row per session (session_id, agent, created_at, updated_at,
    message_count, status, user_id, tags: a JSON array, ...); `messages` one row per message
    (session_id, position from 1, role, timestamp, chars: the length of its text). JSON
    functions work, json_each and json_tree included.

    No statement can change the index or any other file. A query stops after --timeout
    seconds (exit status 3) or at Ctrl-C (130). The table shows at most 10,000 rows; json and
    csv stream every row.

    \b
    Examples:
      mofa session query "SELECT agent, count(*) AS sessions FROM sessions GROUP BY agent"
      mofa session query "SELECT session_id FROM sessions WHERE status = 'empty'" -f json
      mofa session query "SELECT * FROM sessions" --output-format csv > sessions.csv
      mofa session query "SELECT value AS tag, count(*) FROM sessions, json_each(tags) GROUP BY tag"
      mofa session query "SELECT role, sum(chars) FROM messages GROUP BY role"
    """
    result = app.store().query(_utf8_argument(sql), timeout or None)
    try:
        write(result.columns, result.rows, fmt, console.warning)
    finally:
        result.close()


def _finite(seconds: float) -> float:
    if not math.isfinite(seconds):
        from mofa.cli.errors import CliError, ExitStatus

        raise CliError(
            f"--timeout {seconds}: give a number of seconds (0 for no limit)",
            ExitStatus.PERMISSION_DENIED,
        )
    return seconds


def _utf8_argument(text: str) -> str:
    """An argument as UTF-8 text. Where the locale is not UTF-8 (C, without Python's UTF-8
    mode), Python hands over its non-ASCII bytes as surrogate escapes, which SQLite refuses."""
    if text.isascii() or text.isprintable():
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except (UnicodeError, ValueError):
        return text


def _cell(value) -> str:
    from mofa.render import printable

    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    return printable(str(value))


def _json_value(value):
    """bytes as hex; a float JSON cannot hold (SQLite's 1e999 is infinity) as null."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(columns: list[str], rows, fmt: str, warn=None) -> None:
    """Write `rows` (an iterable of tuples) in `fmt`; `warn` hears that the table was cut."""
    if fmt == "table":
        write_table(columns, rows, warn)
        return

    write_text = document_writer()
    if fmt == "csv":
        import csv

        class _Stream:
            write = staticmethod(write_text)

        writer = csv.writer(_Stream(), lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                ["" if v is None else v.hex() if isinstance(v, bytes) else v for v in row]
            )
    else:
        write_text("[")
        first = True
        columns = json_keys(columns)
        plain_columns = all(console.json_plain(column) for column in columns)
        for row in rows:
            text = _plain_row(columns, row) if plain_columns else None
            if text is None:
                text = _json_row(columns, row)
            write_text(("\n  " if first else ",\n  ") + text)
            first = False
        write_text("]\n" if first else "\n]\n")
    sys.stdout.flush()


def json_keys(columns: list[str]) -> list[str]:
    """The columns' names as keys of one JSON object: a repeated name becomes `a_2`, `a_3`,
    ..., skipping any name another column already has, so that no value is lost."""
    taken = set(columns)
    if len(taken) == len(columns):
        return columns
    seen: set[str] = set()
    following: dict[str, int] = {}
    keys = []
    for column in columns:
        if column in seen:
            number = following.get(column, 2)
            while f"{column}_{number}" in taken:
                number += 1
            following[column] = number + 1
            key = f"{column}_{number}"
            taken.add(key)
        else:
            key = column
        seen.add(column)
        keys.append(key)
    return keys


def _plain_row(columns: list[str], row) -> str | None:
    """A row as `json.dumps` writes it, without the json module (~1.5 ms of imports on every
    query) for the usual row of plain text, integers, finite floats and NULLs; None
    for any other."""
    parts = []
    for column, value in zip(columns, row, strict=True):
        kind = type(value)
        if value is None:
            text = "null"
        elif kind is int:
            text = int.__repr__(value)
        elif kind is float and math.isfinite(value):
            text = float.__repr__(value)
        elif kind is str and console.json_plain(value):
            text = f'"{value}"'
        else:
            return None
        parts.append(f'"{column}": {text}')
    return "{" + ", ".join(parts) + "}"


def _json_row(columns: list[str], row) -> str:
    import json

    item = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
    try:
        text = json.dumps(item, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as its \u escape
        text = json.dumps(item, allow_nan=False)
    return text


def write_table(columns: list[str], rows, warn=None) -> None:
    from mofa.render import box_table, printable

    cells: list[list[str]] = []
    for row in rows:
        if len(cells) == TABLE_ROW_LIMIT:
            if warn:
                warn(
                    f"the table shows the first {TABLE_ROW_LIMIT:,} rows only;"
                    " use -f csv or -f json for all of them"
                )
            break
        cells.append([_cell(v) for v in row])
    if not columns:
        return
    sys.stdout.write(box_table([printable(c) for c in columns], cells) + "\n")
    sys.stdout.flush()
