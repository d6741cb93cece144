"""Reading sessions back from what `export` wrote (json or yaml), for `import`."""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from mofa.errors import CorruptSession, InvalidSessionId


class ExportedSession(NamedTuple):
    """One exported session: its id and every stored field (with `messages`)."""

    source: str
    session_id: str
    document: dict


def read_export(path: str, data: bytes | None = None) -> ExportedSession:
    """The session in an export file; raises CorruptSession when it is not one."""
    if data is None:
        from mofa.stores.files import read_bytes  # its errors, and its size limit, fit here too

        data = read_bytes(path)
    document = _decode(path, data)
    if not isinstance(document, dict):
        raise CorruptSession(path, "not an exported session (not a JSON or YAML mapping)")
    session_id = document.get("session_id", document.get("key"))
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionId(f"{path}: the export names no session_id")
    messages = document.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
        raise CorruptSession(path, "'messages' is not a list of JSON objects")
    return ExportedSession(path, session_id, document)


def _decode(path: str, data: bytes):
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yaml", ".yml"):
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as error:
            if suffix == ".json":
                raise CorruptSession(path, f"invalid JSON ({error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptSession(path, "not valid UTF-8") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except (YAMLError, RecursionError) as error:
        raise CorruptSession(path, f"invalid YAML ({str(error).splitlines()[0]})") from None
