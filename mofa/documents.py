"""What `show` and `export` write: the documents and their JSON and YAML text."""

from __future__ import annotations

import json

from mofa.session import JSONL_LAYOUT, Session
from mofa.timestamps import shown_text


class Timestamp(str):
    """A time in `YYYY-MM-DDTHH:MM:SS[.fraction]Z` form that YAML shows as a plain timestamp."""


def _timestamp(value: object) -> object:
    shown = shown_text(value)  # UTC, the stored fraction kept
    return Timestamp(shown) if shown is not None else value


def show_document(session: Session) -> dict:
    """The session as `show --format json|yaml` prints it (times normalized to UTC)."""
    document = {
        "session_id": session.session_id,
        "created_at": Timestamp(session.created_at_shown),
    }
    if "updated_at" in session.document:
        document["updated_at"] = _timestamp(session.document["updated_at"])
    document["message_count"] = session.message_count
    document["status"] = session.status
    document["metadata"] = session.metadata
    messages = []
    for message in session.messages:
        shown = {}
        if "timestamp" in message:
            shown["timestamp"] = _timestamp(message["timestamp"])
        for key in ("role", "content"):
            if key in message:
                shown[key] = message[key]
        for key, value in message.items():
            shown.setdefault(key, value)
        messages.append(shown)
    document["messages"] = messages
    return document


def export_document(session: Session) -> dict:
    """Every field of the stored session with its stored value: lossless.

    `session_id` is added in front when the stored session has none; a JSONL session's
    messages, one per line on disk, become its `messages` list.
    """
    document = {} if "session_id" in session.document else {"session_id": session.session_id}
    document.update(session.document)
    if session.layout == JSONL_LAYOUT:
        document["messages"] = session.messages
    return document


def to_json(document: object) -> str:
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from the file: keep them as escapes
        text = json.dumps(document, indent=2, ensure_ascii=True)
    return text + "\n"


def to_yaml(document: object) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.sort_base_mapping_type_on_output = False
    yaml.representer.add_representer(
        Timestamp, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value)))
    yaml.representer.add_representer(str, _represent_str)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _represent_str(dumper, value: str):
    # ruamel may leave a line-break character such as NEL (U+0085) in a plain scalar, where
    # YAML reads it back as a space; double quotes escape every such character exactly.
    if not value.isprintable() and any(char != " " and not char.isprintable() for char in value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)
