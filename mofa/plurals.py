"""Counts in messages: `1 session`, `2 sessions`, one rule for every command."""

from __future__ import annotations


def counted(number: int, one: str, many: str | None = None, spec: str = "") -> str:
    """`number` (formatted by `spec`, "," for thousands) and the noun that goes with it: `one`
    for 1, else `many` (`one` + "s")."""
    noun = one if number == 1 else many if many is not None else one + "s"
    return f"{number:{spec}} {noun}"
