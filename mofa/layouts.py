"""The two on-disk layouts: per-agent JSON files and MoFA's flat JSONL files.

Each parser turns the bytes of one file into a Session, or raises CorruptSession.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from mofa.errors import CorruptSession
from mofa.numbers import exact_float
from mofa.session import JSON_LAYOUT, JSONL_LAYOUT, Session
from mofa.timestamps import parse_timestamp


def _fast_loads():
    """orjson's loads, or None. It parses twice as fast as json, but reads integers beyond
    64 bits as floats: fit only for the index's summary fields, never for show or export."""
    try:
        from orjson import loads
    except ImportError:
        return None
    return loads


_FAST_LOADS: Callable[[bytes], Any] | Literal[False] | None = None  # False: no orjson


def fast_loads():
    """orjson's loads, or False without orjson. It parses twice as fast as json, but reads
    integers beyond 64 bits as floats: fit only for the index's summary fields, never for show
    or export. Imported on first use."""
    global _FAST_LOADS
    if _FAST_LOADS is None:
        try:
            from orjson import loads
        except ImportError:
            loads = False
        _FAST_LOADS = loads
    return _FAST_LOADS


def _decode(path: str, data: bytes, fast: bool = False):
    if fast:
        loads = fast_loads()
        if loads:
            try:
                value = loads(data)
            except ValueError:
                pass  # NaN, lone surrogates, ...: let json decide, and word the error
            else:
                user = value.get("metadata") if type(value) is dict else None
                if type(user) is not dict or type(user.get("user_id")) is not float:
                    return value
    try:
        return json.loads(data, parse_float=None if fast else exact_float)
    except UnicodeDecodeError:
        raise CorruptSession(path, "not valid UTF-8") from None
    except RecursionError:
        raise CorruptSession(path, "JSON nested too deeply") from None
    except ValueError as error:
        if not data.strip():
            raise CorruptSession(path, "empty file") from None
        raise CorruptSession(path, f"invalid JSON ({error})") from None


def _check_messages(path: str, messages) -> list:
    if not isinstance(messages, list):
        raise CorruptSession(path, "'messages' is not a list")
    if set(map(type, messages)) <= {dict}:  # the common case, checked at C speed
        return messages
    for position, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise CorruptSession(path, f"message {position} is not a JSON object")
    return messages


def parse_agent_json(
    path: str, agent: str, name: str, data: bytes, mtime_ns: int, fast: bool = False
) -> Session:
    """`<root>/<agent>/<name>.json`: one JSON object; the id comes from the path.

    `fast` parses for the index only (see `fast_loads`).
    """
    document = _decode(path, data, fast)
    if not isinstance(document, dict):
        raise CorruptSession(path, f"not a JSON object (a JSON {type(document).__name__})")
    messages = _check_messages(path, document.get("messages", []))
    if document.get("metadata") is not None and not isinstance(document["metadata"], dict):
        raise CorruptSession(path, "'metadata' is not a JSON object")
    return Session(
        session_id=f"{agent}:{name}",
        agent=agent,
        name=name,
        layout=JSON_LAYOUT,
        path=path,
        document=document,
        messages=messages,
        file_mtime_ns=mtime_ns,
    )


def jsonl_identity(key: str, metadata: dict) -> tuple[str, str]:
    """(agent, session part) of a MoFA key: agent from metadata, else before the first ':'."""
    head, sep, tail = key.partition(":")
    agent = metadata.get("agent_id")
    if isinstance(agent, (int, float)) and not isinstance(agent, bool):
        agent = str(agent)  # DESIGN: a number is shown as text (a float keeps its written form)
    if not isinstance(agent, str) or not agent:
        agent = head
    return agent, (tail if sep else key)


def parse_jsonl(path: str, stem: str, data: bytes, mtime_ns: int) -> Session:
    """`<root>/<key>.jsonl`: a header line, then one message per line.

    Messages are the lines MoFA itself would load (`message_problem`); any other line is
    skipped and noted in `warnings`. A header that does not parse makes the whole file
    unreadable; its `metadata` when not an object is read as `{}`, as MoFA does.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptSession(path, "not valid UTF-8") from None
    lines = text.split("\n")
    header: dict = {}
    messages: list = []
    warnings: list[str] = []
    first = True
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = _EXACT_DECODER.decode(line)
        except (ValueError, RecursionError):
            value = _NOT_JSON
        if first:
            first = False
            if not isinstance(value, dict):
                raise CorruptSession(
                    path, f"line {number} is not a JSON object (the session header)"
                )
            if "role" not in value or "key" in value:
                header = value
                continue
        problem = message_problem(value)
        if problem:
            warnings.append(f"{path}: line {number} {problem}; skipped")
            continue
        messages.append(value)
    key = header.get("key")
    if not isinstance(key, str) or not key:
        key = stem
    metadata = header.get("metadata")
    agent, name = jsonl_identity(key, metadata if isinstance(metadata, dict) else {})
    return Session(
        session_id=key,
        agent=agent,
        name=name,
        layout=JSONL_LAYOUT,
        path=path,
        document=header,
        messages=messages,
        file_mtime_ns=mtime_ns,
        warnings=warnings,
    )


_NOT_JSON = object()
# One decoder for every line: json.loads with parse_float builds a new one per call (a tenth
# of a JSONL file's parsing time). A line starting with a BOM is refused by both alike.
_EXACT_DECODER = json.JSONDecoder(parse_float=exact_float)


def message_problem(value) -> str | None:
    """Why MoFA would not load this message line (None when it would): it loads a JSON object
    with a string `role`, a string `content`, and a `timestamp` absent or RFC 3339."""
    if value is _NOT_JSON:
        return "is not valid JSON"
    if type(value) is not dict:
        return "is not a JSON object"
    if type(value.get("role")) is not str:
        return "has no string 'role'"
    if type(value.get("content")) is not str:
        return "has no string 'content'"
    if "timestamp" in value and parse_timestamp(value["timestamp"]) is None:
        return "has a 'timestamp' that is not an RFC 3339 time"
    return None
