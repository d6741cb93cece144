"""A session as a Markdown transcript that a person can read (`show`/`export -f markdown`).

The title names the id, a short field list follows, then one heading per message with its role
and time, and the message's content in a fenced block: its text as written, structured content
as JSON. Whatever a session holds, the document keeps its shape: the fence around content is
longer than any backtick run inside, so no content line can close it or read as a heading or
separator of the transcript, and control characters are escaped, never raw.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, tzinfo

from mofa.render import printable
from mofa.session import Session
from mofa.timestamps import in_zone, index_text, listing_text, parse_timestamp, zoned_text

_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>#~&|])")
_LONGEST_BACKTICKS = re.compile(r"`+")


def session_markdown(
    session: Session, positions: list[int] | None = None, zone: tzinfo | None = None
) -> str:
    """The transcript, ending with one newline: every message, or those at `positions`
    (1-based); times in UTC, or in `zone`."""
    created = session.created_at
    parts = [f"# Session {_code(session.session_id)}", "", *_fields(session, created, zone), ""]
    if positions is None:
        positions = list(range(1, len(session.messages) + 1))
    if not positions:
        parts += ["_No messages._", ""]
    for position in positions:
        message = session.messages[position - 1]
        parts += [_heading(position, message, created, zone), ""]
        if isinstance(message, dict) and "content" not in message:
            parts += ["_(no content)_", ""]
        else:
            parts += [
                _content(message.get("content") if isinstance(message, dict) else message),
                "",
            ]
    return "\n".join(parts)


def _fields(session: Session, created: datetime | None, zone: tzinfo | None) -> list[str]:
    fields = [("Agent", _code(session.agent)), ("Created", _time(created, zone))]
    updated = session.updated_at
    if updated is not None:
        fields.append(("Updated", _time(updated, zone)))
    fields += [("Status", _text(session.status)), ("Messages", str(session.message_count))]
    if session.user_id is not None:
        fields.append(("User", _code(session.user_id)))
    tags = session.metadata.get("tags")
    if isinstance(tags, list) and tags:
        fields.append(("Tags", ", ".join(_code(tag) for tag in tags)))
    elif tags is not None and not isinstance(tags, list):
        fields.append(("Tags", _code(tags)))
    return [f"- **{name}:** {value}" for name, value in fields]


def _time(moment: datetime | None, zone: tzinfo | None) -> str:
    if moment is None:
        return "unknown"
    if zone is None:
        return listing_text(index_text(moment)) + " UTC"
    local = in_zone(moment, zone)
    return f"{zoned_text(local, zone)} {local.tzname() or local.strftime('%z')}"


def _heading(position: int, message: object, created: datetime | None, zone: tzinfo | None) -> str:
    role = message.get("role") if isinstance(message, dict) else None
    heading = f"## {position}. {_text(role) if role is not None else '(no role)'}"
    stamp = message.get("timestamp") if isinstance(message, dict) else None
    if stamp is None:
        return heading
    moment = parse_timestamp(stamp)
    if moment is None:
        return f"{heading} · {_code(stamp)}"
    # The clock alone when the message is of the session's day, as the conversation table.
    local = in_zone(moment, zone)
    if created is not None and local.date() == in_zone(created, zone).date():
        return f"{heading} · {local:%H:%M:%S}"
    return f"{heading} · {_time(moment, zone)}"


def _content(content: object) -> str:
    if isinstance(content, str):
        return _text_block(content) if content.strip() else "_(empty)_"
    return _fenced(_json_text(content), "json")


def _text_block(text: str) -> str:
    """Text content in a fenced block, its control characters escaped: inside it no line can
    read as a heading, a separator, a list or HTML of the transcript (a line of content such as
    `## 9. system` would otherwise pass for a message of its own), and no line can close it."""
    return _fenced(_escape_controls(text.replace("\r\n", "\n")), "")


def _fenced(text: str, info: str) -> str:
    """`text` in a fenced block whose fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in _LONGEST_BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


INDENT_DEPTH = 64


def _json_text(value: object) -> str:
    """Indented JSON; a value nested deeper than INDENT_DEPTH is written compact (indenting
    is then unreadable anyway, and Python's indenting encoder takes quadratic time in depth)."""
    try:
        if _deeper_than(value, INDENT_DEPTH):
            raise RecursionError
        text = json.dumps(value, indent=2, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (RecursionError, ValueError, TypeError):
            text = '"(content nested too deeply to show)"'
    return _escape_json_controls(text)


def _deeper_than(value: object, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return False


def _escape_controls(text: str) -> str:
    """Every control or format character escaped, as tables show them; line breaks and tabs
    are layout and stay."""
    if text.isprintable():
        return text
    return "\n".join(
        "\t".join(printable(piece) for piece in line.split("\t")) for line in text.split("\n")
    )


def _escape_json_controls(text: str) -> str:
    """Characters JSON leaves raw (DEL, C1 controls, bidi overrides, lone surrogates) as
    `\\uXXXX` escapes, which keep the JSON valid: they can only stand inside its strings."""
    if text.isprintable() or all(char == "\n" or char.isprintable() for char in text):
        return text
    out = []
    for char in text:
        if char == "\n" or printable(char) == char:
            out.append(char)
        elif ord(char) > 0xFFFF:
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


def _text(value: object) -> str:
    """An inline value as text: one line, Markdown punctuation escaped."""
    return _INLINE_SPECIAL.sub(r"\\\1", printable(value))


def _code(value: object) -> str:
    """An inline value as a code span (ids keep their `_` and `*` readable)."""
    text = printable(value)
    longest = max((len(run) for run in _LONGEST_BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
