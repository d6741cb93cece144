"""The session model: what a session file holds, and the fields derived from it."""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from mofa.stores.rows import session_row_type
from mofa.timestamps import (
    UNKNOWN,
    epoch_ns_index_text,
    index_text,
    parse_timestamp,
    precise_index_text,
    shown_text,
)

JSON_LAYOUT = "json"  # <root>/<agent>/<session>.json
JSONL_LAYOUT = "jsonl"  # MoFA's <root>/<key>.jsonl
JSON_SUFFIX = ".json"
JSONL_SUFFIX = ".jsonl"


def title_of(metadata: dict, messages: list) -> str | None:
    """What `list --wide` shows as a session's title: `metadata.title` when a string, else the
    first line (not blank) of the first user message's content when a string, else None."""
    title = metadata.get("title")
    if isinstance(title, str):
        return title
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if not isinstance(content, str):
                return None
            return content.strip().split("\n", 1)[0].strip() or None
    return None


class Session:
    """One session as stored, with DESIGN.md's derived fields.

    `document` is every top-level field of the stored session exactly as read (for the JSONL
    layout, the header line); `messages` are the stored messages, each as read.
    """

    __slots__ = (
        "session_id",
        "agent",
        "name",
        "layout",
        "path",
        "document",
        "messages",
        "file_mtime_ns",
        "warnings",
    )

    def __init__(
        self,
        session_id: str,
        agent: str,
        name: str,
        layout: str,
        path: str,
        document: dict,
        messages: list,
        file_mtime_ns: int,
        warnings: list[str] | None = None,
    ):
        self.session_id = session_id
        self.agent = agent
        self.name = name
        self.layout = layout
        self.path = path
        self.document = document
        self.messages = messages
        self.file_mtime_ns = file_mtime_ns
        self.warnings = warnings if warnings is not None else []

    @property
    def metadata(self) -> dict:
        value = self.document.get("metadata")
        return value if isinstance(value, dict) else {}

    @property
    def message_count(self) -> int:
        return len(self.messages)

    @property
    def status(self) -> str:
        return status_of(self.document.get("status"), self.messages)

    @property
    def created_at(self) -> datetime | None:
        """The stored `created_at`, else the first message's timestamp, else the file mtime;
        None (unknown) when even the mtime is not a time of the years 1-9999."""
        moment = parse_timestamp(self.document.get("created_at"))
        if moment is None and self.messages and isinstance(self.messages[0], dict):
            moment = parse_timestamp(self.messages[0].get("timestamp"))
        if moment is None:
            from mofa.timestamps import from_epoch_ns

            moment = from_epoch_ns(self.file_mtime_ns)
        return moment

    @property
    def updated_at(self) -> datetime | None:
        moment = parse_timestamp(self.document.get("updated_at"))
        if moment is None and self.messages and isinstance(self.messages[-1], dict):
            moment = parse_timestamp(self.messages[-1].get("timestamp"))
        return moment

    @property
    def tags(self) -> list[str]:
        """The strings of `metadata.tags` (a list), in order."""
        value = self.metadata.get("tags")
        return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []

    @property
    def title(self) -> str | None:
        return title_of(self.metadata, self.messages)

    @property
    def user_id(self) -> str | None:
        value = self.metadata.get("user_id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        return None

    def _created_source(self) -> str | None:
        """The stored text `created_at` comes from (as the property picks it), None for the
        mtime."""
        value = self.document.get("created_at")
        if parse_timestamp(value) is not None:
            return value
        if self.messages and isinstance(self.messages[0], dict):
            value = self.messages[0].get("timestamp")
            if parse_timestamp(value) is not None:
                return value
        return None

    @property
    def created_at_shown(self) -> str | None:
        """`created_at` as `show -f json|yaml` prints it: UTC, the stored fraction kept; None
        when `created_at` is."""
        source = self._created_source()
        if source is not None:
            return shown_text(source)
        moment = self.created_at
        return None if moment is None else index_text(moment)

    def summary(self) -> "SessionSummary":
        created, updated = summary_times(self.document, self.messages, self.file_mtime_ns)
        return SessionSummary(
            session_id=self.session_id,
            agent=self.agent,
            name=self.name,
            created_at=created,
            updated_at=updated,
            message_count=self.message_count,
            status=self.status,
            user_id=self.user_id,
            layout=self.layout,
        )


def summary_times(
    document: dict, messages: list, mtime_ns: int, time_text=precise_index_text
) -> tuple:
    """(created_at, updated_at) as `list` shows them, in the index's text (`time_text` turns a
    stored time into it): the stored field, else the first (last) message's timestamp; created
    falls back to the file's mtime, then to UNKNOWN. Index texts at full precision are made
    straight from the stored strings: no datetime round trip, which a cold build would pay."""
    created = time_text(document.get("created_at"))
    if created is None and messages and isinstance(messages[0], dict):
        created = time_text(messages[0].get("timestamp"))
    if created is None:
        created = epoch_ns_index_text(mtime_ns)
    if created is None:  # no date can hold the mtime: the time is unknown
        created = UNKNOWN
    updated = time_text(document.get("updated_at"))
    if updated is None and messages and isinstance(messages[-1], dict):
        updated = time_text(messages[-1].get("timestamp"))
    return created, updated


def status_of(value, messages: list) -> str:
    """A session's status: the stored text, else "active" with messages, "empty" without."""
    if isinstance(value, str) and value:
        return value
    return "active" if messages else "empty"


if TYPE_CHECKING:  # a type made at run time from SessionRow's fields: opaque to mypy
    SessionSummary: TypeAlias = Any
else:
    SessionSummary = session_row_type(
        "SessionSummary",
        [("layout", str)],
        "What `list` shows of a session, and its layout.",
        __name__,
    )
