"""`show` output: the page's header, metadata block and conversation table, or JSON/YAML."""

from __future__ import annotations

import shutil

import click

from mofa.documents import show_document, to_json, to_yaml
from mofa.render import box_table, printable, truncate, width
from mofa.session import Session
from mofa.timestamps import clock_text, listing_text, index_text, parse_timestamp


def write(session: Session, fmt: str) -> None:
    if fmt == "json":
        click.echo(to_json(show_document(session)), nl=False)
    elif fmt == "yaml":
        click.echo(to_yaml(show_document(session)), nl=False)
    else:
        click.echo(table_text(session, shutil.get_terminal_size((80, 24)).columns))


def table_text(session: Session, columns: int) -> str:
    lines = [
        f"Session: {printable(session.session_id)}",
        f"Created: {listing_text(index_text(session.created_at))}",
        f"Messages: {session.message_count}",
        f"Status: {printable(session.status)}",
    ]
    if session.metadata:
        lines += ["", "Metadata:"]
        lines += [f"  {printable(key)}: {printable(value)}" for key, value in session.metadata.items()]
    lines += ["", "Conversation:", ""]
    if not session.messages:
        lines.append("  (no messages)")
        return "\n".join(lines)
    rows = []
    for message in session.messages:
        moment = parse_timestamp(message.get("timestamp"))
        stamp = clock_text(moment) if moment else printable(message.get("timestamp", ""))
        rows.append([stamp, printable(message.get("role", "")), printable(message.get("content", ""))])
    fixed = [max(width("Timestamp"), *(width(r[0]) for r in rows)),
             max(width("Role"), *(width(r[1]) for r in rows))]
    room = max(columns - sum(fixed) - 10, 12)  # 10: borders and padding of three columns
    for row in rows:
        row[2] = truncate(row[2], room)
    lines.append(box_table(["Timestamp", "Role", "Content"], rows))
    return "\n".join(lines)
