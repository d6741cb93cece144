"""Query rows as a table, JSON or CSV.

JSON and CSV stream row by row, as UTF-8 (see console.document_writer). The table has to see
every row before it can draw a column's width, so it holds at most TABLE_ROW_LIMIT rows.
"""

from __future__ import annotations

import math
import sys

from mofa.render import box_table, printable

TABLE_ROW_LIMIT = 10_000


def _cell(value) -> str:
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
    from mofa.cli.console import document_writer

    write_text = document_writer()
    if fmt == "csv":
        import csv

        class _Stream:
            write = staticmethod(write_text)

        writer = csv.writer(_Stream(), lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else v.hex() if isinstance(v, bytes) else v for v in row])
    else:
        import json

        write_text("[")
        first = True
        for row in rows:
            item = {c: _json_value(v) for c, v in zip(columns, row)}
            try:
                text = json.dumps(item, ensure_ascii=False, allow_nan=False)
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: keep it as its \u escape
                text = json.dumps(item, allow_nan=False)
            write_text(("\n  " if first else ",\n  ") + text)
            first = False
        write_text("]\n" if first else "\n]\n")
    sys.stdout.flush()


def write_table(columns: list[str], rows, warn=None) -> None:
    cells = []
    for row in rows:
        if len(cells) == TABLE_ROW_LIMIT:
            if warn:
                warn(f"the table shows the first {TABLE_ROW_LIMIT:,} rows only;"
                     " use -f csv or -f json for all of them")
            break
        cells.append([_cell(v) for v in row])
    if not columns:
        return
    sys.stdout.write(box_table([printable(c) for c in columns], cells) + "\n")
    sys.stdout.flush()
