"""Counts in messages: `1 session`, `2 sessions`, one rule for every command."""

from __future__ import annotations


def counted(number: int, one: str, many: str | None = None) -> str:
    """`number` and the noun that goes with it: `one` for 1, else `many` (`one` + "s")."""
    if number == 1:
        return f"{number} {one}"
    return f"{number} {many if many is not None else one + 's'}"
