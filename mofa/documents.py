"""What `show` and `export` write: the documents and their JSON and YAML text."""

from __future__ import annotations

import sys

from mofa.numbers import ExactFloat
from mofa.session import JSONL_LAYOUT, Session
from mofa.timestamps import shown_text


class Timestamp(str):
    """A time in `YYYY-MM-DDTHH:MM:SS[.fraction]Z` form that YAML shows as a plain timestamp."""


def _timestamp(value: object) -> object:
    shown = shown_text(value)  # UTC, the stored fraction kept
    return Timestamp(shown) if shown is not None else value


def show_document(session: Session) -> dict:
    """The session as `show --format json|yaml` prints it (times normalized to UTC)."""
    created = session.created_at_shown
    document: dict[str, object] = {
        "session_id": session.session_id,
        "created_at": None if created is None else Timestamp(created),
    }
    if "updated_at" in session.document:
        document["updated_at"] = _timestamp(session.document["updated_at"])
    document["message_count"] = session.message_count
    document["status"] = session.status
    document["metadata"] = session.metadata
    messages = []
    for message in session.messages:
        shown: dict[str, object] = {}
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
    document: dict[str, object] = (
        {} if "session_id" in session.document else {"session_id": session.session_id}
    )
    document.update(session.document)
    if session.layout == JSONL_LAYOUT:
        document["messages"] = session.messages
    return document


def json_export(session: Session) -> bytes:
    """The bytes `export -f json` writes for the session (also an archive's file)."""
    from mofa.jsontext import encode

    return encode(export_document(session), newline=True)


def jsonl_export(session: Session) -> bytes:
    """One line of `export -f jsonl`: the session's json export, compact, and a line break."""
    from mofa.jsontext import encode

    return encode(export_document(session), indent=None, newline=True)


def same_content(first: dict, second: dict) -> bool:
    """Whether two documents hold the same values, numbers compared by their text (`1e400`
    and `1e401` are both infinity as floats, never the same number). The same export text is
    the same content too (NaN, which no strict JSON holds, is exported and stored as null)."""
    if first == second and _number_texts(first) == _number_texts(second):
        return True
    return to_json(first) == to_json(second)


def _number_texts(document: object) -> list[str]:
    texts, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, float):
            texts.append(value.text if isinstance(value, ExactFloat) else repr(value))
    return sorted(texts)


def to_json(document: object) -> str:
    """Strict JSON, numbers as stored (see mofa.jsontext)."""
    from mofa.jsontext import dumps

    return dumps(document) + "\n"


def nesting_depth(document: object) -> int:
    """How deeply lists and objects nest in `document` (walked without recursion)."""
    deepest, stack = 0, [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((item, depth + 1) for item in value)
    return deepest


def _deep_call(function, depth: int):
    """`function()`, given the stack that a recursive writer needs for `depth` levels.

    ruamel.yaml recurses a few frames per level. A parsed session nests at most about a
    thousand levels (json.loads refuses deeper), so the writer runs in a thread of its own
    with a large stack and, for that while, a recursion limit to match: no RecursionError,
    and no risk of overflowing the main thread's C stack.
    """
    if depth < 100:
        return function()
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    limit = sys.getrecursionlimit()
    previous_size = threading.stack_size(256 * 1024 * 1024)
    try:
        sys.setrecursionlimit(max(limit, depth * 16 + 1000))
        worker = threading.Thread(target=run, name="mofa-deep-writer", daemon=True)
        worker.start()
    finally:
        threading.stack_size(previous_size)
    try:
        worker.join()
    finally:
        sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def to_yaml(document: object) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    # ruamel.yaml types this setting by its default, None: False is what it documents for it.
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.representer.add_representer(
        Timestamp,
        lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value)),
    )
    yaml.representer.add_representer(str, _represent_str)
    yaml.representer.add_representer(ExactFloat, _represent_exact_float)
    stream = io.StringIO()
    _deep_call(lambda: yaml.dump(document, stream), nesting_depth(document))
    return stream.getvalue()


def _represent_exact_float(dumper, value: ExactFloat):
    # JSON's number syntax is a YAML 1.2 float: the stored text is written as it is.
    return dumper.represent_scalar("tag:yaml.org,2002:float", value.text)


def _represent_str(dumper, value: str):
    # ruamel may leave a line-break character such as NEL (U+0085) in a plain scalar, where
    # YAML reads it back as a space; double quotes escape every such character exactly.
    if not value.isprintable() and any(char != " " and not char.isprintable() for char in value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)
