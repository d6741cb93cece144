"""`list` output: the box table or a JSON array streamed row by row."""

from __future__ import annotations

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
        created_at = listing_text(row.created_at) if row.created_at else None
        if hasattr(row, "origin"):  # a store holding sessions of several origins says whose
            text = _json_item(row.session_id, created_at, row.message_count, row.status, row.origin)
        else:
            text = _plain_item(row.session_id, created_at, row.message_count, row.status)
        if text is None:
            text = _json_item(row.session_id, created_at, row.message_count, row.status)
        write(("\n  " if first else ",\n  ") + text)
        first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()


def _plain(text) -> bool:
    """True when JSON writes `text` as it is between quotes (no escape, valid UTF-8)."""
    return type(text) is str and text.isprintable() and '"' not in text and "\\" not in text


def _plain_item(session_id, created_at, message_count, status) -> str | None:
    """A row as `json.dumps(item, indent=2)` writes it (indented once more), without the json
    module (2 ms of imports on every listing) for the usual row; None for any other."""
    if not (_plain(session_id) and _plain(status) and type(message_count) is int
            and (created_at is None or _plain(created_at))):
        return None
    created = "null" if created_at is None else f'"{created_at}"'
    return (f'{{\n    "session_id": "{session_id}",\n    "created_at": {created},\n'
            f'    "message_count": {message_count},\n    "status": "{status}"\n  }}')


def _json_item(session_id, created_at, message_count, status, origin=None) -> str:
    import json

    item = {"session_id": session_id, "created_at": created_at, "message_count": message_count,
            "status": status}
    if origin is not None:
        item["origin"] = origin
    try:
        text = json.dumps(item, indent=2, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(item, indent=2)
    return text.replace("\n", "\n  ")


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
