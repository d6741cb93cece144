"""Sessions as rows and rows as sessions: what the database keeps of a session, derived the
same way the files store derives it, and the session rebuilt so that `export` is identical.

The stored fields and every message are kept as strict JSON text, numbers as their text
(mofa.jsontext): read with `exact_float`, they give back the very values the files store
would read (key order, exact numbers),
which jsonb would not (it reorders keys, rewrites numbers, refuses NaN and NUL). A jsonb copy
of the metadata exists for queries only, when jsonb can hold it.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, overload

from mofa.errors import CorruptSession, InvalidSessionId, StoreError
from mofa.session import JSON_LAYOUT, JSONL_LAYOUT, Session
from mofa.stores.rows import session_row_type

if TYPE_CHECKING:  # a type made at run time from SessionRow's fields: opaque to mypy
    SessionRecord: TypeAlias = Any
else:
    SessionRecord = session_row_type(
        "SessionRecord",
        [
            ("tags", list[str]),
            ("layout", str),
            ("fields", str),
            ("messages_at", int | None),
            ("metadata", str | None),
            ("mtime_ns", int),
            ("content_hash", str),
            ("title", str | None),
        ],
        "One row of `mofa_sessions`, in column order.",
        __name__,
    )


class MessageRecord(NamedTuple):
    """One row of `mofa_messages`, in column order."""

    session_id: str
    position: int
    role: str | None
    timestamp: str | None
    text: str
    words: str
    message: str


def json_text(value) -> str:
    """Compact strict JSON, numbers as their text (mofa.jsontext), UTF-8 where it can be (a
    lone surrogate, which no database text can hold, is kept as an escape); `json.loads` with
    `exact_float` gives `value` back."""
    from mofa.jsontext import dumps

    try:
        return dumps(value, None)
    except TypeError as error:
        raise StoreError(f"cannot store this session as JSON: {error}") from None


def storable(text: str) -> bool:
    """Whether PostgreSQL text can hold `text` exactly (no NUL, no lone surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@overload
def cleaned(text: str) -> str: ...
@overload
def cleaned(text: None) -> None: ...
def cleaned(text: str | None) -> str | None:
    """A derived value made storable: NUL and lone surrogates become U+FFFD."""
    if text is None or storable(text):
        return text
    return "".join(
        "\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in text
    )


def check_id(session_id: str) -> None:
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionId("invalid session id '': it is empty")
    if not storable(session_id):
        raise InvalidSessionId(
            f"invalid session id {session_id!r}: PostgreSQL text cannot hold"
            " a NUL or a lone surrogate"
        )


def _jsonb_holds(value, depth: int = 0) -> bool:
    """Whether jsonb takes `value` (no NaN or infinity, no NUL, valid UTF-8, not absurdly deep)."""
    if depth > 200:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(storable(key) and _jsonb_holds(item, depth + 1) for key, item in value.items())
    if isinstance(value, list):
        return all(_jsonb_holds(item, depth + 1) for item in value)
    return True


def chained_hash(previous: str, text: str) -> str:
    """content_hash: a chain over the fields, then each message in order, so that an append
    extends it without reading the session."""
    return hashlib.sha256(f"{previous}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()


def layout_of(session_id: str, fields: dict) -> str:
    """The layout the files store would write this session in (`mofa.stores.writing`), so that
    the session's export is the same from both stores."""
    from mofa.stores.writing import target_of

    try:
        return target_of(session_id, fields)[0]
    except InvalidSessionId:
        return JSONL_LAYOUT  # no file name could hold it; the database can


def identity(session_id: str, layout: str, metadata: dict) -> tuple[str, str]:
    """(agent, session part), as the files store derives them."""
    if layout == JSON_LAYOUT:
        agent, _, name = session_id.partition(":")
        return agent, name
    from mofa.layouts import jsonl_identity

    return jsonl_identity(session_id, metadata)


def split_document(session_id: str, document: dict) -> tuple[str, dict, list, int | None]:
    """(layout, fields without messages, messages, where messages stood) of a document as
    `export` writes it. Raises CorruptSession for what the files store could not read back."""
    from mofa.stores.writing import stored_fields

    if not isinstance(document, dict):
        raise CorruptSession(session_id, "not a JSON object")
    fields = stored_fields(session_id, document)
    layout = layout_of(session_id, fields)
    messages = fields.get("messages", [])
    if layout == JSONL_LAYOUT and messages is None:
        messages = []  # a MoFA file has no place for it: its messages are lines
    if not isinstance(messages, list):
        raise CorruptSession(session_id, "'messages' is not a list")
    for position, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise CorruptSession(session_id, f"message {position} is not a JSON object")
    metadata = fields.get("metadata")
    if (
        "metadata" in fields
        and not isinstance(metadata, dict)
        and not (layout == JSONL_LAYOUT and metadata is None)
    ):
        raise CorruptSession(session_id, "'metadata' is not a JSON object")
    keys = list(fields)
    messages_at = keys.index("messages") if layout == JSON_LAYOUT and "messages" in fields else None
    rest = {key: value for key, value in fields.items() if key != "messages"}
    return layout, rest, messages, messages_at


def assemble(
    session_id: str,
    agent: str,
    name: str,
    layout: str,
    fields: dict,
    messages: list,
    messages_at: int | None,
    mtime_ns: int,
) -> Session:
    """The Session the files store would read: a per-agent document with its messages where
    they stood, a MoFA header with its messages beside it."""
    if layout == JSON_LAYOUT and messages_at is not None:
        items = list(fields.items())
        items.insert(messages_at, ("messages", messages))
        document = dict(items)
    else:
        document = fields
    return Session(session_id, agent, name, layout, session_id, document, messages, mtime_ns)


def message_record(session_id: str, position: int, message: dict) -> MessageRecord:
    from mofa.searching import searchable_text
    from mofa.stores.postgres.search import word_text

    role = message.get("role")
    timestamp = message.get("timestamp")
    text = searchable_text(message.get("content"))
    return MessageRecord(
        session_id,
        position,
        cleaned(role) if isinstance(role, str) else None,
        cleaned(timestamp) if isinstance(timestamp, str) else None,
        text,
        word_text(text),
        json_text(message),
    )


def session_record(
    session: Session,
    fields: dict,
    messages_at: int | None,
    message_texts: list[str],
    fields_text: str | None = None,
) -> SessionRecord:
    """The row of a session; `message_texts` are its messages' JSON texts, in order."""
    summary = session.summary()
    metadata = session.metadata
    tags = metadata.get("tags")
    tags = [cleaned(tag) for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
    fields_text = fields_text if fields_text is not None else json_text(fields)
    content_hash = hashlib.sha256(fields_text.encode("utf-8", "surrogatepass")).hexdigest()
    for text in message_texts:
        content_hash = chained_hash(content_hash, text)
    return SessionRecord(
        session_id=session.session_id,
        agent=cleaned(session.agent),
        name=cleaned(session.name),
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        message_count=summary.message_count,
        status=cleaned(summary.status),
        user_id=cleaned(summary.user_id),
        tags=tags,
        layout=session.layout,
        fields=fields_text,
        messages_at=messages_at,
        metadata=json_text(metadata) if _jsonb_holds(metadata) else None,
        mtime_ns=session.file_mtime_ns,
        content_hash=content_hash,
        title=cleaned(session.title),
    )


def prepared(
    session_id: str, document: dict, mtime_ns: int
) -> tuple[SessionRecord, list[MessageRecord]]:
    """The session row and message rows of a document as `export` writes it."""
    check_id(session_id)
    layout, fields, messages, messages_at = split_document(session_id, document)
    agent, name = identity(session_id, layout, fields.get("metadata") or {})
    session = assemble(session_id, agent, name, layout, fields, messages, messages_at, mtime_ns)
    message_rows = [
        message_record(session_id, position, message) for position, message in enumerate(messages)
    ]
    record = session_record(session, fields, messages_at, [row.message for row in message_rows])
    return record, message_rows
