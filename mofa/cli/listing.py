"""`mofa session list`, and its output: the box table or a JSON array streamed row by row."""

from __future__ import annotations

import sys

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.console import document_writer
from mofa.cli.filters import session_filter, session_options
from mofa.cli.options import complete_agents, output_format_option, pager_option
from mofa.cli.terminal import page
from mofa.timestamps import listing_text

HEADERS = ["session_id", "created_at", "message_count", "status"]
WIDE_HEADERS = ["agent", "updated_at", "user_id"]  # then origin when there is one, then title


@click.command("list")
@click.option(
    "-a",
    "--agent",
    metavar="AGENT_ID",
    shell_complete=complete_agents,
    help="Only the sessions of this agent (exact match).",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=0),
    metavar="N",
    help="Only the N most recent sessions by --sort's time (of those the filters keep).",
)
@click.option(
    "--sort",
    type=click.Choice(["created", "updated"]),
    default="created",
    show_default=True,
    help="Order by creation, or by last activity (updated_at, else the last message's time,"
    " else created_at); oldest first either way.",
)
@click.option(
    "-w",
    "--wide",
    is_flag=True,
    help="Also show agent, updated_at, user_id and title (metadata.title, else the first"
    " line of the first user message; cut to the terminal's width).",
)
@session_options
@output_format_option("table", "json", mofa_spellings=True)
@pager_option
@pass_app
def list_sessions(
    app: App, agent, limit, sort, wide, since, until, statuses, user, tags, fmt, no_pager
):
    """List sessions: the N most recently created (or active), printed oldest first.

    Every filter narrows; --limit applies last.

    \b
    Examples:
      mofa session list
      mofa session list --agent agent-001 --limit 10
      mofa session list --since 7d --status active --tag billing
      mofa session list --sort updated --limit 10
      mofa session list --wide
      mofa session list --output-format json | jq -r '.[].session_id'
    """
    if limit is not None:
        limit = min(limit, 2**63 - 1)  # more than SQLite can count means all of them
    wanted = session_filter(agent, limit, since, until, statuses, user, tags)
    if sort != "created":
        wanted = wanted._replace(sort=sort)
    if fmt == "table":
        console.status("→ Listing sessions")
        if agent is not None:
            console.status(f"  Filtering by agent: {agent}")
        for label, value in (
            ("Since", since),
            ("Until", until),
            ("Status", ", ".join(statuses)),
            ("User", user),
            ("Tags", ", ".join(tags)),
        ):
            if value:
                console.status(f"  {label}: {value}")
        if limit is not None:
            console.status(f"  Limit: {limit}")
        if sort != "created":
            console.status(f"  Sort: {sort}")
        console.status("")
    store = app.store()
    rows = store.list(wanted, wide=True) if wide else store.list(wanted)
    found = False
    if agent is not None:  # an agent with no session may be a typo: told once the rows are out

        def watched(rows):
            nonlocal found
            for row in rows:
                found = True
                yield row

        rows = watched(rows)
    if wide and fmt == "json":
        write_wide_json(rows)
    elif wide:
        write_wide_table(rows, app.timezone, pager=not no_pager)
    elif fmt == "json":
        write_json(rows)
    else:
        write_table(rows, app.timezone, pager=not no_pager)
    if agent is not None and not found:
        from mofa.cli.suggesting import hint_agent

        hint_agent(store, agent)


def write_json(rows) -> None:

    write = document_writer()
    write("[")
    first = True
    for row in rows:
        created_at = listing_text(row.created_at) if row.created_at else None
        origin = getattr(row, "origin", None)  # a store holding several origins says whose
        text = (
            None
            if origin is not None
            else _plain_item(row.session_id, created_at, row.message_count, row.status)
        )
        if text is None:
            item = {
                "session_id": row.session_id,
                "created_at": created_at,
                "message_count": row.message_count,
                "status": row.status,
            }
            if origin is not None:
                item["origin"] = origin
            text = _json_text(item)
        write(("\n  " if first else ",\n  ") + text)
        first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()


def _plain_item(session_id, created_at, message_count, status) -> str | None:
    """A row as `json.dumps(item, indent=2)` writes it (indented once more), without the json
    module (2 ms of imports on every listing) for the usual row; None for any other."""
    if not (
        console.json_plain(session_id)
        and console.json_plain(status)
        and type(message_count) is int
        and (created_at is None or console.json_plain(created_at))
    ):
        return None
    created = "null" if created_at is None else f'"{created_at}"'
    return (
        f'{{\n    "session_id": "{session_id}",\n    "created_at": {created},\n'
        f'    "message_count": {message_count},\n    "status": "{status}"\n  }}'
    )


def _json_item(session_id, created_at, message_count, status) -> str:
    return _json_text(
        {
            "session_id": session_id,
            "created_at": created_at,
            "message_count": message_count,
            "status": status,
        }
    )


def _json_text(item: dict) -> str:
    import json

    try:
        text = json.dumps(item, indent=2, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(item, indent=2)
    return text.replace("\n", "\n  ")


def write_table(rows, zone=None, pager: bool = False) -> None:
    """The box table; times in `zone` (None: UTC); a table longer than the screen through the
    pager when `pager` and stdout is a terminal."""
    from mofa.render import box_table, printable
    from mofa.timestamps import zoned_listing_text

    rows = list(rows)
    origins = bool(rows) and hasattr(rows[0], "origin")
    cells = [
        [
            printable(row.session_id),
            zoned_listing_text(row.created_at, zone),
            str(row.message_count),
            printable(row.status),
        ]
        + ([printable(row.origin)] if origins else [])
        for row in rows
    ]
    if not cells:
        click.echo("No sessions found.")
        return
    page(box_table(HEADERS + ["origin"] if origins else HEADERS, cells), pager, long_only=True)


def write_wide_json(rows) -> None:
    from mofa.cli.console import document_writer

    write = document_writer()
    write("[")
    first = True
    for row in rows:
        item = {
            "session_id": row.session_id,
            "created_at": listing_text(row.created_at) if row.created_at else None,
            "message_count": row.message_count,
            "status": row.status,
            "agent": row.agent,
            "updated_at": listing_text(row.updated_at) if row.updated_at else None,
            "user_id": row.user_id,
            "title": row.title,
        }
        if row.origin is not None:
            item["origin"] = row.origin
        write(("\n  " if first else ",\n  ") + _json_text(item))
        first = False
    write("]\n" if first else "\n]\n")
    sys.stdout.flush()


def write_wide_table(rows, zone=None, pager: bool = False) -> None:
    """`write_table` with the wide columns, the title cut to the terminal's width."""
    from mofa.cli.terminal import page, terminal_columns
    from mofa.render import box_table, printable, truncate, width
    from mofa.timestamps import zoned_listing_text

    rows = list(rows)
    if not rows:
        click.echo("No sessions found.")
        return
    origins = any(row.origin is not None for row in rows)
    headers = HEADERS + WIDE_HEADERS + (["origin"] if origins else []) + ["title"]
    cells = [
        [
            printable(row.session_id),
            zoned_listing_text(row.created_at, zone),
            str(row.message_count),
            printable(row.status),
            printable(row.agent),
            zoned_listing_text(row.updated_at or "", zone),
            "-" if row.user_id is None else printable(row.user_id),
        ]
        + ([printable(row.origin)] if origins else [])
        + ["-" if row.title is None else printable(row.title)]
        for row in rows
    ]
    # The other columns stay whole; the title gets what is left of the terminal's width
    # (3 columns of border and padding per column, and one more), at least its header's.
    fixed = sum(
        max(width(header), *(width(cell[n]) for cell in cells))
        for n, header in enumerate(headers[:-1])
    )
    room = max(terminal_columns() - fixed - 3 * len(headers) - 1, width("title"))
    for cell in cells:
        cell[-1] = truncate(cell[-1], room)
    page(box_table(headers, cells), pager, long_only=True)
