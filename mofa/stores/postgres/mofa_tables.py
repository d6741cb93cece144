"""MoFA's own database persistence, read alongside the store's sessions.

When the database also holds MoFA's tables (`scripts/sql/migrations/postgres_init.sql`:
`entity_chat_session`, `entity_llm_message`), their sessions are listed, shown, searched and
exported with the others, under the origin `ORIGIN`, read-only: MoFA owns those rows.

A chat session becomes a MoFA JSONL session: id and key its uuid, agent its agent_id; the
header holds its title, times and metadata (with the user, agent and tenant ids added when
the metadata does not name them); each message its role, content, time and ids.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mofa.reading import passes, row_of
from mofa.session import JSONL_LAYOUT, Session
from mofa.stores.base import SessionFilter

ORIGIN = "mofa-tables"

_SESSION_COLUMNS = (
    "id::text, user_id::text, agent_id::text, tenant_id::text, title, metadata, create_time,"
    " update_time"
)


def present(conn) -> bool:
    row = conn.execute(
        "SELECT to_regclass('entity_chat_session') IS NOT NULL"
        " AND to_regclass('entity_llm_message') IS NOT NULL"
    ).fetchone()
    return bool(row[0])


def time_text(value) -> str | None:
    """A database time as the files' text: UTC, ISO 8601, microseconds, 'Z'."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # a timestamp without zone: taken as UTC
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def _header(row) -> dict:
    session_id, user_id, agent_id, tenant_id, title, metadata, created, updated = row
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    for key, value in (("agent_id", agent_id), ("user_id", user_id), ("tenant_id", tenant_id)):
        if value is not None:
            metadata.setdefault(key, value)
    header = {"key": session_id, "created_at": time_text(created)}
    if updated is not None:
        header["updated_at"] = time_text(updated)
    if title is not None:
        header["title"] = title
    header["metadata"] = metadata
    return header


def _session(row, messages: list) -> Session:
    session_id, agent_id = row[0], row[2]
    return Session(
        session_id, agent_id or "", session_id, JSONL_LAYOUT, session_id, _header(row), messages, 0
    )


def rows(conn, wanted: SessionFilter, wide: bool = False) -> list:
    """(SessionRow fields..., ORIGIN) of the sessions `wanted` names, unsorted, no limit;
    `wide`: the title before ORIGIN."""
    from mofa.session import title_of

    if wanted.origin is not None and wanted.origin != ORIGIN:
        return []
    found: list[tuple] = []
    first_user = (
        ", (SELECT m.content FROM entity_llm_message m WHERE m.chat_session_id = s.id"
        " AND m.role = 'user' ORDER BY m.create_time, m.id LIMIT 1)"
        if wide
        else ""
    )
    for row in conn.execute(
        f"SELECT {_SESSION_COLUMNS}{first_user}, (SELECT count(*) FROM entity_llm_message m"
        " WHERE m.chat_session_id = s.id) FROM entity_chat_session s"
    ).fetchall():
        header = row[: -2 if wide else -1]
        session = _session(header, [{}] * row[-1])  # a listing needs only how many
        listed = row_of(session)
        if passes(listed, wanted, session.tags):
            if wide:
                user = [] if row[-2] is None else [{"role": "user", "content": row[-2]}]
                found.append((*listed, title_of(session.metadata, user), ORIGIN))
            else:
                found.append((*listed, ORIGIN))
    return found


def find(conn, text: str, by_name: bool) -> list:
    """(session_id, agent, name, ORIGIN) of the chat session whose uuid is `text`."""
    del by_name  # a chat session's name is its id
    return [
        (row[0], row[1] or "", row[0], ORIGIN)
        for row in conn.execute(
            "SELECT id::text, agent_id::text FROM entity_chat_session WHERE id::text = %s",
            (text.lower(),),
        ).fetchall()
    ]


def ids_starting(conn, prefix: str, limit: int) -> list[str]:
    """Chat session ids (uuids, as `list` prints them) starting with `prefix`, for completion."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id::text FROM entity_chat_session WHERE starts_with(id::text, %s)"
            " ORDER BY 1 LIMIT %s",
            (prefix, limit),
        ).fetchall()
    ]


def agents_starting(conn, prefix: str, limit: int) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT agent_id::text FROM entity_chat_session"
            " WHERE starts_with(agent_id::text, %s) ORDER BY 1 LIMIT %s",
            (prefix, limit),
        ).fetchall()
    ]


def _messages(conn, session_id: str) -> list:
    messages = []
    for message_id, parent, role, content, created in conn.execute(
        "SELECT id::text, parent_message_id::text, role, content, create_time"
        " FROM entity_llm_message WHERE chat_session_id::text = %s ORDER BY create_time, id",
        (session_id,),
    ).fetchall():
        message = {
            "role": role,
            "content": content,
            "timestamp": time_text(created),
            "id": message_id,
        }
        if parent is not None:
            message["parent_message_id"] = parent
        messages.append(message)
    return messages


def load(conn, session_id: str) -> Session | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM entity_chat_session WHERE id::text = %s", (session_id,)
    ).fetchone()
    if row is None:
        return None
    return _session(row, _messages(conn, session_id))


def messages_for_search(conn, wanted: SessionFilter, role: str | None) -> list:
    """(session_id, agent, created_at, text, ORIGIN, position from 1) of every message, in
    session order."""
    from mofa.searching import searchable_text

    if wanted.origin is not None and wanted.origin != ORIGIN:
        return []
    found = []
    sessions = {
        row[0]: row
        for row in conn.execute(f"SELECT {_SESSION_COLUMNS} FROM entity_chat_session").fetchall()
    }
    positions: dict[str, int] = {}
    for session_id, message_role, content in conn.execute(
        "SELECT chat_session_id::text, role, content FROM entity_llm_message"
        " ORDER BY chat_session_id, create_time, id"
    ).fetchall():
        position = positions[session_id] = positions.get(session_id, 0) + 1
        if role is not None and message_role != role:
            continue
        row = sessions.get(session_id)
        if row is None:
            continue
        listed = row_of(_session(row, [{}]))
        if not passes(listed, wanted._replace(statuses=(), user=None, tags=())):
            continue
        found.append(
            (
                session_id,
                listed.agent,
                listed.created_at,
                searchable_text(content),
                ORIGIN,
                position,
            )
        )
    return found
