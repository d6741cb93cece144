"""Session ids: `<agent>:<session>` or a short `<session>`, validated before any path is built."""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

import re
from typing import NamedTuple

from mofa.errors import InvalidSessionId

# The first path separator or control character (C0, DEL, C1) decides the reason.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


def _bad_part(part: str) -> str | None:
    if not part:
        return "is empty"
    if part in (".", "..") or part.startswith("."):
        return "starts with '.'"
    unsafe = _UNSAFE.search(part)
    if unsafe is None:
        return None
    if unsafe.group() in "/\\":
        return "contains a path separator"
    return "contains a control character"


def check_part(part: str, what: str, text: str) -> None:
    problem = _bad_part(part)
    if problem:
        raise InvalidSessionId(f"invalid session id {text!r}: the {what} part {problem}")


def is_safe_name(part: str) -> bool:
    """True when `part` can stand as one path component inside the root."""
    return _bad_part(part) is None


class SessionId(NamedTuple):
    """A parsed id: `agent` is None for a short id."""

    agent: str | None
    name: str

    @property
    def full(self) -> str:
        return f"{self.agent}:{self.name}" if self.agent is not None else self.name


def parse_session_id(text: str) -> SessionId:
    """Split and validate an id typed by a user; raise InvalidSessionId when it is unsafe."""
    if ":" not in text:
        check_part(text, "session", text)
        return SessionId(None, text)
    agent, name = text.split(":", 1)
    check_part(agent, "agent", text)
    check_part(name, "session", text)
    return SessionId(agent, name)


def mofa_file_stem(key: str) -> str:
    """MoFA's own rule from a session key to its file name (without `.jsonl`): every character
    that is not a Unicode letter or digit, `-`, `:` or `_` becomes `_`. The result is one plain
    path component (no separator, no leading dot: `.` becomes `_`), except for the empty key."""
    return "".join(char if char.isalnum() or char in "-:_" else "_" for char in key)
