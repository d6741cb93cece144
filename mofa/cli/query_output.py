"""Query rows as a table, JSON or CSV."""

from __future__ import annotations

import sys

from mofa.render import box_table, printable


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    return printable(str(value))


def write(columns: list[str], cursor, fmt: str) -> None:
    out = sys.stdout
    if fmt == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in cursor:
            writer.writerow(["" if v is None else v.hex() if isinstance(v, bytes) else v for v in row])
    elif fmt == "json":
        import json

        out.write("[")
        first = True
        for row in cursor:
            item = {c: (v.hex() if isinstance(v, bytes) else v) for c, v in zip(columns, row)}
            out.write(("\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False))
            first = False
        out.write("]\n" if first else "\n]\n")
    else:
        rows = [[_cell(v) for v in row] for row in cursor]
        if not columns:
            return
        out.write(box_table([printable(c) for c in columns], rows) + "\n")
    out.flush()
