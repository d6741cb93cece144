"""Which messages of a session to show (`show --messages`, `show --grep`): a range of
positions, or the messages matching a search query with some around them. Positions are
1-based, as `search` reports them."""

from __future__ import annotations

import re
from typing import NamedTuple

from mofa.session import Session

_RANGE = re.compile(r"(?:([0-9]+)(?:-([0-9]*))?|-([0-9]+))")  # ASCII digits only


class MessageRange(NamedTuple):
    """Positions `first`..`last` (None: to the end), or the `last_count` last messages."""

    first: int | None
    last: int | None
    last_count: int | None


def parse_message_range(text: str) -> MessageRange:
    """`7`, `5-9`, `5-` (to the end) or `-3` (the last three); raises ValueError."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a range of messages: give 7, 5-9, 5- or -3")
    first, last, count = match.groups()
    if count is not None:
        if int(count) < 1:
            raise ValueError(f"{text!r} is not a range of messages: -N names the last N, N >= 1")
        return MessageRange(None, None, int(count))
    start = int(first)
    end = start if last is None else (int(last) if last else None)
    if start < 1 or (end is not None and end < start):
        raise ValueError(f"{text!r} is not a range of messages: positions start at 1, low-high")
    return MessageRange(start, end, None)


def range_positions(wanted: MessageRange, count: int) -> list[int]:
    """The positions of a session of `count` messages that `wanted` names (none past its end)."""
    if wanted.last_count is not None:
        return list(range(max(count - wanted.last_count, 0) + 1, count + 1))
    assert wanted.first is not None
    last = count if wanted.last is None else min(wanted.last, count)
    return list(range(wanted.first, last + 1))


def matching_positions(session: Session, query: str, context: int = 0) -> list[int]:
    """The positions of the messages that match `query` (the search language), each with up to
    `context` messages before and after; raises InvalidSearchQuery."""
    from mofa.searching import message_matcher

    matches = message_matcher(query)
    count = len(session.messages)
    chosen: set[int] = set()
    for index, message in enumerate(session.messages):
        if matches(message):
            chosen.update(range(max(index - context, 0), min(index + context, count - 1) + 1))
    return [index + 1 for index in sorted(chosen)]
