"""`list` output: the box table or a JSON array streamed row by row."""

from __future__ import annotations

import json
import sys

import click

from mofa.timestamps import listing_text

HEADERS = ["session_id", "created_at", "message_count", "status"]


def write_json(rows) -> None:
    from mofa.cli.console import document_writer

    write = document_writer()
    write("[")
    first = True
    for row in rows:
        item = {"session_id": row.session_id,
                "created_at": listing_text(row.created_at) if row.created_at else None,
                "message_count": row.message_count, "status": row.status}
        if hasattr(row, "origin"):  # a store holding sessions of several origins says whose
            item["origin"] = row.origin
        try:
            text = json.dumps(item, indent=2, ensure_ascii=False)
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(item, indent=2)
        write(("\n  " if first else ",\n  ") + text.replace("\n", "\n  "))
        first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()


def write_table(rows) -> None:
    from mofa.render import box_table, printable

    rows = list(rows)
    origins = bool(rows) and hasattr(rows[0], "origin")
    cells = [[printable(row.session_id), listing_text(row.created_at), str(row.message_count),
              printable(row.status)] + ([printable(row.origin)] if origins else []) for row in rows]
    if not cells:
        click.echo("No sessions found.")
        return
    click.echo(box_table(HEADERS + ["origin"] if origins else HEADERS, cells))
