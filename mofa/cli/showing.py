"""`mofa session show`, and its output: the page's header, metadata block and conversation
table, or JSON/YAML/Markdown."""

from __future__ import annotations

from datetime import tzinfo

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.console import document
from mofa.cli.options import complete_session_ids, pager_option, show_format_option
from mofa.cli.suggesting import resolve_or_suggest
from mofa.cli.terminal import page, terminal_columns
from mofa.session import Session
from mofa.timestamps import conversation_times, parse_timestamp, zoned_text


def _message_range(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from mofa.selection import parse_message_range

    try:
        return parse_message_range(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


@click.command("show")
@click.argument("session_id", shell_complete=complete_session_ids)
@show_format_option
@click.option(
    "--origin",
    metavar="NAME",
    help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.",
)
@click.option(
    "--full", is_flag=True, help="Every message whole, wrapped to the width, its line breaks kept."
)
@click.option(
    "--messages",
    "message_range",
    metavar="RANGE",
    callback=_message_range,
    help="Only these messages, by position: 7, 5-9, 5- (to the end) or -3 (the last three).",
)
@click.option(
    "--grep",
    metavar="QUERY",
    help="Only the messages matching QUERY (the language of `search`).",
)
@click.option(
    "-C",
    "--context",
    type=click.IntRange(0, 1_000_000),
    default=0,
    show_default=True,
    help="With --grep: this many messages before and after each match.",
)
@pager_option
@pass_app
def show(app: App, session_id, fmt, origin, full, message_range, grep, context, no_pager):
    """Show a session: its fields, metadata and conversation.

    SESSION_ID is `<agent>:<session>`, or just `<session>` when one agent has it. On a terminal
    the table and the markdown transcript go through a pager (MOFA_PAGER, PAGER, `less -FRX`).
    With --messages or --grep, only those messages are printed, each with its position.

    \b
    Examples:
      mofa session show agent-001:session-123
      mofa session show session-123 --full
      mofa session show session-123 --messages -3
      mofa session show session-123 --grep refund -C 2
      mofa session show session-123 --format json | jq '.messages[] | select(.role == "user")'
      mofa session show session-123 -o yaml
    """
    if context and grep is None:
        raise click.UsageError("-C/--context goes with --grep")
    if grep is not None:
        from mofa.searching import parse_query

        parse_query(grep)  # a query it cannot take is refused before any work
    store = app.store()
    loaded = store.load(resolve_or_suggest(store, session_id, origin))
    for warning in loaded.warnings:
        console.warning(warning)
    positions = None
    if message_range is not None:
        from mofa.selection import range_positions

        positions = range_positions(message_range, len(loaded.messages))
    if grep is not None:
        from mofa.selection import matching_positions

        found = matching_positions(loaded, grep, context)
        positions = found if positions is None else [p for p in positions if p in set(found)]
    write(loaded, fmt, positions, full=full, zone=app.timezone, pager=not no_pager)


def write(
    session: Session,
    fmt: str,
    positions: list[int] | None = None,
    full: bool = False,
    zone: tzinfo | None = None,
    pager: bool = False,
) -> None:
    """`session` in `fmt`: every message, or only those at `positions` (1-based)."""
    if fmt == "table":
        page(table_text(session, terminal_columns(), positions, full, zone), enabled=pager)
        return
    if fmt == "markdown":
        from mofa.markdown import session_markdown

        page(session_markdown(session, positions, zone).rstrip("\n"), enabled=pager)
        return
    from mofa.documents import show_document, to_json, to_yaml

    dump = to_json if fmt == "json" else to_yaml
    shown = show_document(session)
    if positions is not None:
        shown["messages"] = [
            {"position": position, **shown["messages"][position - 1]} for position in positions
        ]
    document(dump(shown))


def table_text(
    session: Session,
    columns: int,
    positions: list[int] | None = None,
    full: bool = False,
    zone: tzinfo | None = None,
) -> str:
    from mofa.render import box_table, printable, truncate, width, wrap

    created = session.created_at
    lines = [
        f"Session: {printable(session.session_id)}",
        f"Created: {'-' if created is None else zoned_text(created, zone)}",
        f"Messages: {session.message_count}",
        f"Status: {printable(session.status)}",
    ]
    if session.metadata:
        lines += ["", "Metadata:"]
        lines += [
            f"  {printable(key)}: {printable(value)}" for key, value in session.metadata.items()
        ]
    lines += ["", "Conversation:", ""]
    numbered = positions is not None
    if positions is None:
        positions = list(range(1, len(session.messages) + 1))
    if not positions:
        lines.append("  (no messages)")
        return "\n".join(lines)
    messages = [session.messages[position - 1] for position in positions]
    stamps = conversation_times(
        [parse_timestamp(message.get("timestamp")) for message in messages], created, zone
    )
    rows = []
    for position, message, stamp in zip(positions, messages, stamps, strict=True):
        content = message.get("content", "")
        rows.append(
            ([str(position)] if numbered else [])
            + [
                stamp if stamp is not None else printable(message.get("timestamp", "")),
                printable(message.get("role", "")),
                content if isinstance(content, str) and full else printable(content),
            ]
        )
    headers = (["#"] if numbered else []) + ["Timestamp", "Role", "Content"]
    fixed = [
        max(width(headers[i]), *(width(row[i]) for row in rows)) for i in range(len(headers) - 1)
    ]
    room = max(columns - sum(fixed) - 3 * len(headers) - 1, 12)  # borders and padding
    for row in rows:
        row[-1] = wrap(row[-1], room) if full else truncate(row[-1], room)
    lines.append(box_table(headers, rows))
    return "\n".join(lines)
