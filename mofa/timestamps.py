"""Parsing of RFC 3339 timestamps and the ways the tool shows a time: UTC, as stored, unless a
table is asked for another time zone (`--timezone`)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


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
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


UNKNOWN = ""
"""The index's created_at for a time that cannot be represented: sorts before every time."""


def from_epoch_ns(ns: int) -> datetime | None:
    """The UTC time of an mtime, or None when it is outside the years 1-9999."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def index_text(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, to the second (the index keeps more: `precise_index_text`)."""
    # Formatted by hand: strftime costs a cold index build a second per 100,000 sessions.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def listing_text(index_value: str) -> str:
    """`YYYY-MM-DD HH:MM:SS` from the index's form, as `list` shows it; `-` when unknown."""
    if not index_value:
        return "-"
    return index_value[:10] + " " + index_value[11:19]


def clock_text(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


def in_zone(moment: datetime, zone: tzinfo | None) -> datetime:
    """`moment` in `zone` (None: UTC, as every time is stored); as it is when not representable
    there (the year 1 or 9999 shifted out of range)."""
    try:
        return moment.astimezone(zone or UTC)
    except (OverflowError, ValueError):
        return moment


def zoned_text(moment: datetime, zone: tzinfo | None) -> str:
    """`YYYY-MM-DD HH:MM:SS` of `moment` in `zone`, as tables show a time."""
    local = in_zone(moment, zone)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        f" {local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )


def zoned_listing_text(index_value: str, zone: tzinfo | None) -> str:
    """`listing_text` of the index's form, shown in `zone` (None: UTC, unchanged)."""
    if zone is None or not index_value:
        return listing_text(index_value)
    moment = parse_timestamp(index_value)
    return zoned_text(moment, zone) if moment is not None else listing_text(index_value)


def conversation_times(
    moments: list[datetime | None], first: datetime | None, zone: tzinfo | None
) -> list[str | None]:
    """The time column of a conversation: `HH:MM:SS` for a message on the session's first day
    (the day of `first`, else of its first timed message, in `zone`), the date too for a message
    on another day; None where a message has no time."""
    if first is None:
        first = next((moment for moment in moments if moment is not None), None)
    first_day = in_zone(first, zone).date() if first is not None else None
    shown: list[str | None] = []
    for moment in moments:
        if moment is None:
            shown.append(None)
            continue
        local = in_zone(moment, zone)
        clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        if local.date() != first_day:
            clock = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {clock}"
        shown.append(clock)
    return shown


def normalize(value: object) -> object:
    """The index form of a timestamp value, or the value unchanged when it is not one."""
    moment = parse_timestamp(value)
    return index_text(moment) if moment else value


# -- full precision ------------------------------------------------------------------------
# A datetime holds microseconds; MoFA writes nanoseconds, and many sessions start within one
# second. The index keeps the stored digits instead, in one fixed-width form whose text order
# is time order: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`, always nine fraction digits.

_NO_FRACTION = "000000000"


def _fraction_digits(text: str) -> str:
    """The fraction digits of a valid RFC 3339 text (stripped), '' when it has none."""
    if len(text) < 21 or text[16] != ":" or text[19] not in ".,":
        return ""
    end = 20
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[20:end]


def _utc_seconds(text: str, moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of a valid time, straight from the text when it is already UTC."""
    if text[10] == "T" and text[16] == ":" and (text[-1] in "zZ" or text.endswith("+00:00")):
        return text[:19]
    return _seconds_of(moment)


def _seconds_of(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def precise_index_text(value: object) -> str | None:
    """The index's form of an RFC 3339 string at full precision (`...SS.fffffffffZ`, the
    stored fraction padded or cut to nine digits), or None when it is not a time."""
    moment = parse_timestamp(value)
    if moment is None or not isinstance(value, str):  # a time is a string
        return None
    text = value.strip()
    digits = _fraction_digits(text)
    return f"{_utc_seconds(text, moment)}.{(digits + _NO_FRACTION)[:9]}Z"


def moment_index_text(moment: datetime) -> str:
    """The index's form of a datetime (which holds microseconds)."""
    moment = moment.astimezone(UTC)
    return f"{_seconds_of(moment)}.{moment.microsecond:06d}000Z"


def epoch_ns_index_text(ns: int) -> str | None:
    """The index's form of a file time in nanoseconds, or None when no date can hold it."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{_seconds_of(moment)}.{fraction:09d}Z"


def shown_text(value: object) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC, the stored fraction kept digit for digit
    (as `show -f json|yaml` prints a time), or None when the value is not a time."""
    moment = parse_timestamp(value)
    if moment is None or not isinstance(value, str):  # a time is a string
        return None
    text = value.strip()
    digits = _fraction_digits(text)
    return f"{_utc_seconds(text, moment)}{'.' + digits if digits else ''}Z"
