"""Session ids: `<agent>:<session>` or a short `<session>`, validated before any path is built."""

# No `from __future__ import annotations`: NamedTuple turns each string annotation into a
# compiled ForwardRef, twice the cost of defining the class on every command's start-up.

from typing import NamedTuple

from mofa.errors import InvalidSessionId

_FORBIDDEN = frozenset("/\\")


def _bad_part(part: str) -> str | None:
    if not part:
        return "is empty"
    if part in (".", "..") or part.startswith("."):
        return "starts with '.'"
    for char in part:
        if char in _FORBIDDEN:
            return "contains a path separator"
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0:
            return "contains a control character"
    return None


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
