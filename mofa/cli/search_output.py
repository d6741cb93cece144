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
            "message": hit.message,
        }
        for hit in hits
    ]
    click.echo(json.dumps(items, indent=2, ensure_ascii=False))


def _snippet_cell(snippet: str, room: int, highlight: bool) -> str:
    """The snippet on one line, cut to `room` columns (ending in `…` where cut), its matches
    styled when `highlight`."""
    from mofa.render import printable, truncate, width
    from mofa.searching import snippet_parts

    parts = [
        (printable(re.sub(r"\s+", " ", text)), matched)  # one line; spaces around a match kept
        for text, matched in snippet_parts(snippet)
    ]
    cut = sum(width(text) for text, _ in parts) > room
    first = next((index for index, (_, matched) in enumerate(parts) if matched), None)
    if cut and first is not None:
        before = "".join(text for text, _ in parts[:first])
        match, rest = width(parts[first][0]), sum(width(text) for text, _ in parts[first:])
        # The first match would be cut off: the text before it shortened from the left, keeping
        # as much as leaves the rest whole, else a third of the room (when the match fits).
        keep = room - 1 - rest if rest < room else min(room // 3, room - 2 - match)
        if width(before) + match > room - 1 and keep >= 0:
            parts = [("…" + _tail(before, keep), False), *parts[first:]]
            cut = sum(width(text) for text, _ in parts) > room
    left = room - 1 if cut else room  # a column kept for the ellipsis
    pieces = []
    for text, matched in parts:
        if left <= 0:
            break
        text = truncate(text, left, "")
        left -= width(text)
        pieces.append(click.style(text, bold=True, fg="yellow") if matched and highlight else text)
    return "".join(pieces) + ("…" if cut else "")


def _tail(text: str, columns: int) -> str:
    """The end of `text` that fits in `columns` columns."""
    from mofa.render import width

    kept = ""
    for char in reversed(text):
        if width(char + kept) > columns:
            break
        kept = char + kept
    return kept


def write_table(hits, zone=None, pager: bool = False) -> None:
    """The box table, as wide as the terminal (session_id, created_at and matches whole, the
    snippet cut to fit); times in `zone` (None: UTC); through the pager when longer than the
    screen and `pager` (stdout a terminal)."""
    from mofa.cli.terminal import terminal_columns
    from mofa.render import box_table, printable, width
    from mofa.timestamps import zoned_listing_text

    if not hits:
        click.echo("No sessions found.")
        return
    highlight = console.colors()
    fixed = [
        [
            printable(hit.session_id),
            zoned_listing_text(hit.created_at, zone) if hit.created_at else "-",
            str(hit.matches),
        ]
        for hit in hits
    ]
    widths = [
        max([width(header), *(width(row[i]) for row in fixed)])
        for i, header in enumerate(HEADERS[:3])
    ]
    # Each column takes its width plus 3 (a border and two spaces), and the last border 1.
    room = max(terminal_columns() - sum(widths) - 3 * len(HEADERS) - 1, width(HEADERS[3]))
    rows = [
        [*row, _snippet_cell(hit.snippet, room, highlight)]
        for row, hit in zip(fixed, hits, strict=True)
    ]
    page(box_table(HEADERS, rows), pager, long_only=True)
