"""Parsing of RFC 3339 timestamps and the three ways the tool shows a time (all UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

def parse_timestamp(value: object) -> datetime | None:
    """Return an aware UTC datetime for an RFC 3339 string, or None when it is not one.

    A timestamp without an offset is taken as UTC. Non-strings are not timestamps.
    """
    if not isinstance(value, str) or len(value) < 10 or len(value) > 64:
        return None
    text = value.strip()
    # fromisoformat also takes week dates and bare dates: require a calendar date and a time.
    if len(text) < 16 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt ":
        return None
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


UNKNOWN = ""
"""The index's created_at for a time that cannot be represented: sorts before every time."""


def from_epoch_ns(ns: int) -> datetime | None:
    """The UTC time of an mtime, or None when it is outside the years 1-9999."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def index_text(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`: the index's form, whose text order is time order."""
    # Formatted by hand: strftime costs a cold index build a second per 100,000 sessions.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def listing_text(index_value: str) -> str:
    """`YYYY-MM-DD HH:MM:SS` from the index's form, as `list` shows it; `-` when unknown."""
    if not index_value:
        return "-"
    return index_value[:10] + " " + index_value[11:19]


def clock_text(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


def normalize(value: object) -> object:
    """The index form of a timestamp value, or the value unchanged when it is not one."""
    moment = parse_timestamp(value)
    return index_text(moment) if moment else value
