"""`mofa session show`, and its output: the page's header, metadata block and conversation
table, or JSON/YAML/Markdown."""

from __future__ import annotations

import os
import sys

import click

from mofa.cli import console
from mofa.cli.app import App, pass_app
from mofa.cli.options import complete_session_ids, show_format_option
from mofa.session import Session
from mofa.timestamps import clock_text, index_text, listing_text, parse_timestamp


@click.command("show")
@click.argument("session_id", shell_complete=complete_session_ids)
@show_format_option
@click.option(
    "--origin",
    metavar="NAME",
    help="The session mirrored from this host (mofa-indexd --origin), when several hold its id.",
)
@pass_app
def show(app: App, session_id, fmt, origin):
    """Show a session: its fields, metadata and conversation.

    SESSION_ID is `<agent>:<session>`, or just `<session>` when one agent has it.

    \b
    Examples:
      mofa session show agent-001:session-123
      mofa session show session-123 --format json | jq '.messages[] | select(.role == "user")'
      mofa session show session-123 -o yaml
    """
    store = app.store()
    loaded = store.load(store.resolve_origin(session_id, origin))
    for warning in loaded.warnings:
        console.warning(warning)
    write(loaded, fmt)


def write(session: Session, fmt: str) -> None:
    if fmt == "table":
        click.echo(table_text(session, terminal_columns()))
        return
    if fmt == "markdown":
        from mofa.markdown import session_markdown

        click.echo(session_markdown(session), nl=False)
        return
    from mofa.cli.console import document
    from mofa.documents import show_document, to_json, to_yaml

    dump = to_json if fmt == "json" else to_yaml
    document(dump(show_document(session)))


def terminal_columns() -> int:
    """COLUMNS, else the terminal's width, else 80 (as shutil's, without importing shutil)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def table_text(session: Session, columns: int) -> str:
    from mofa.render import box_table, printable, truncate, width

    lines = [
        f"Session: {printable(session.session_id)}",
        f"Created: {'-' if session.created_at is None else listing_text(index_text(session.created_at))}",
        f"Messages: {session.message_count}",
        f"Status: {printable(session.status)}",
    ]
    if session.metadata:
        lines += ["", "Metadata:"]
        lines += [
            f"  {printable(key)}: {printable(value)}" for key, value in session.metadata.items()
        ]
    lines += ["", "Conversation:", ""]
    if not session.messages:
        lines.append("  (no messages)")
        return "\n".join(lines)
    rows = []
    for message in session.messages:
        moment = parse_timestamp(message.get("timestamp"))
        stamp = clock_text(moment) if moment else printable(message.get("timestamp", ""))
        rows.append(
            [stamp, printable(message.get("role", "")), printable(message.get("content", ""))]
        )
    fixed = [
        max(width("Timestamp"), *(width(r[0]) for r in rows)),
        max(width("Role"), *(width(r[1]) for r in rows)),
    ]
    room = max(columns - sum(fixed) - 10, 12)  # 10: borders and padding of three columns
    for row in rows:
        row[2] = truncate(row[2], room)
    lines.append(box_table(["Timestamp", "Role", "Content"], rows))
    return "\n".join(lines)
