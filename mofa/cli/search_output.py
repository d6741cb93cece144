"""`search` output: a table with the snippet's matches highlighted on a terminal, or JSON."""

from __future__ import annotations

import json
import re

import click

from mofa.cli import console
from mofa.cli.terminal import page
from mofa.timestamps import listing_text

HEADERS = ["session_id", "created_at", "matches", "snippet"]


def write_json(hits) -> None:
    from mofa.searching import plain_snippet

    items = [
        {
            "session_id": hit.session_id,
            "created_at": listing_text(hit.created_at) if hit.created_at else None,
            "matches": hit.matches,
            "snippet": plain_snippet(hit.snippet),
        }
        for hit in hits
    ]
    click.echo(json.dumps(items, indent=2, ensure_ascii=False))


def write_table(hits, zone=None, pager: bool = False) -> None:
    """The box table; times in `zone` (None: UTC); through the pager when longer than the
    screen and `pager` (stdout a terminal)."""
    from mofa.render import box_table, printable
    from mofa.searching import snippet_parts
    from mofa.timestamps import zoned_listing_text

    if not hits:
        click.echo("No sessions found.")
        return
    highlight = console.colors()
    rows = []
    for hit in hits:
        pieces = []
        for text, matched in snippet_parts(hit.snippet):
            text = printable(re.sub(r"\s+", " ", text))  # one line; spaces around a match kept
            pieces.append(
                click.style(text, bold=True, fg="yellow") if matched and highlight else text
            )
        rows.append(
            [
                printable(hit.session_id),
                zoned_listing_text(hit.created_at, zone) if hit.created_at else "-",
                str(hit.matches),
                "".join(pieces),
            ]
        )
    page(box_table(HEADERS, rows), pager, long_only=True)
