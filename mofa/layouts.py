"""The two on-disk layouts: per-agent JSON files and MoFA's flat JSONL files.

Each parser turns the bytes of one file into a Session, or raises CorruptSession.
"""

from __future__ import annotations

import json

from mofa.errors import CorruptSession
from mofa.numbers import exact_float
from mofa.session import JSON_LAYOUT, JSONL_LAYOUT, Session


def _fast_loads():
    """orjson's loads, or None. It parses twice as fast as json, but reads integers beyond
    64 bits as floats: fit only for the index's summary fields, never for show or export."""
    try:
        from orjson import loads
    except ImportError:
        return None
    return loads


_FAST_LOADS = None


def _decode(path: str, data: bytes, fast: bool = False):
    global _FAST_LOADS
    if fast:
        if _FAST_LOADS is None:
            _FAST_LOADS = _fast_loads() or False
        if _FAST_LOADS:
            try:
                value = _FAST_LOADS(data)
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


def parse_agent_json(path: str, agent: str, name: str, data: bytes, mtime_ns: int,
                     fast: bool = False) -> Session:
    """`<root>/<agent>/<name>.json`: one JSON object; the id comes from the path.

    `fast` parses for the index only (see `_fast_loads`).
    """
    document = _decode(path, data, fast)
    if not isinstance(document, dict):
        raise CorruptSession(path, f"not a JSON object (a JSON {type(document).__name__})")
    messages = _check_messages(path, document.get("messages", []))
    if "metadata" in document and not isinstance(document["metadata"], dict):
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
    if not isinstance(agent, str) or not agent:
        agent = head
    return agent, (tail if sep else key)


def parse_jsonl(path: str, stem: str, data: bytes, mtime_ns: int) -> Session:
    """`<root>/<key>.jsonl`: a header line, then one message per line.

    A message line that does not parse is skipped and noted in `warnings`; a header that does
    not parse makes the whole file unreadable.
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
            value = json.loads(line, parse_float=exact_float)
        except (ValueError, RecursionError):
            value = None
        if first:
            first = False
            if not isinstance(value, dict):
                raise CorruptSession(path, f"line {number} is not a JSON object (the session header)")
            if "role" not in value or "key" in value:
                header = value
                continue
        if not isinstance(value, dict):
            warnings.append(f"{path}: line {number} is not a JSON object message; skipped")
            continue
        messages.append(value)
    if "metadata" in header and not isinstance(header["metadata"], dict):
        raise CorruptSession(path, "'metadata' in the header is not a JSON object")
    key = header.get("key")
    if not isinstance(key, str) or not key:
        key = stem
    agent, name = jsonl_identity(key, header.get("metadata") or {})
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
