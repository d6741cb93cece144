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
    for session_id, created_at, message_count, status in rows:
        item = {"session_id": session_id, "created_at": listing_text(created_at) if created_at else None,
                "message_count": message_count, "status": status}
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

    cells = [[printable(session_id), listing_text(created_at), str(count), printable(status)]
             for session_id, created_at, count, status in rows]
    if not cells:
        click.echo("No sessions found.")
        return
    click.echo(box_table(HEADERS, cells))
